# routelb. `make demo` and `make test` do all set-up on a fresh Debian machine, as root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Built tools live outside the work tree, keyed by version, so fresh clones reuse them.
# ROUTELB_CACHE (or CACHE=) moves it; scripts and tests read ROUTELB_CACHE.
CACHE ?= $(or $(ROUTELB_CACHE),/var/cache/routelb)
export ROUTELB_CACHE := $(CACHE)
TOOLS := $(CACHE)/bin
CONTROLLER_GEN_VERSION := v0.23.0
GOLANGCI_VERSION := v2.15.0
HELM_VERSION := v3.22.0
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI := $(TOOLS)/golangci-lint-$(GOLANGCI_VERSION)
HELM := $(TOOLS)/helm-$(HELM_VERSION)
DEBIAN_PACKAGES := etcd-server frr frr-pythontools bird2 arping iproute2 iputils-ping tcpdump ndisc6 podman mmdebstrap containerd runc containernetworking-plugins iptables conntrack curl
TEST_TIMEOUT ?= 35m
GO_TEST_FLAGS ?=

.PHONY: all help build generate manifests verify lint test unit demo bench deps packages kube-bin node-bin metallb tools clean

all: build

## help: this list
help:
	@awk '/^## [a-z-]+:/ {sub(/^## /, ""); print; next} /^## / {sub(/^## /, "    "); print}' $(MAKEFILE_LIST)

## build: compile every binary into bin/
build:
	go build -o bin/ ./cmd/...

## generate: deepcopy code for the API types
generate: $(CONTROLLER_GEN)
	go run ./hack/rangerule
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

## manifests: the CRDs, generated from the API types into the Helm chart (their only copy)
manifests: $(CONTROLLER_GEN)
	rm -f charts/routelb/crds/metallb.io_*.yaml
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=charts/routelb/crds

## verify: fail when generated files are stale (regenerating them changes them), go.mod is not
## tidy, or code is not gofmt/vet clean
GENERATED = api/*/zz_generated.*.go charts/routelb/crds/*.yaml
verify: $(CONTROLLER_GEN)
	@before=$$(sha256sum $(GENERATED)); \
	$(MAKE) -s generate manifests; \
	after=$$(sha256sum $(GENERATED)); \
	if [ "$$before" != "$$after" ]; then \
	  diff <(echo "$$before") <(echo "$$after") || true; \
	  echo "generated files were stale: they are regenerated now, commit them" >&2; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi
	@go mod tidy -diff >/dev/null || { go mod tidy -diff >&2; echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
	@# Each binary links only what it runs: the CLI and the sidecar need no reconciler framework.
	@if go list -deps ./cmd/routelb ./cmd/reloader | grep -q controller-runtime; then \
	  echo "cmd/routelb and cmd/reloader must not link controller-runtime: go list -deps shows it" >&2; exit 1; fi
	@# Data flows one way: the pure packages and test kits never reach back into the reconcilers.
	@if go list -test -f '{{.ImportPath}}: {{join .Imports " "}}' ./internal/... | grep 'routelb/controllers'; then \
	  echo "a package under internal/ imports controllers (above)" >&2; exit 1; fi
	go vet -tags metallbdiff ./...

## lint: golangci-lint with .golangci.yml
lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

## test: install what is missing, check generated files and lint, then run every test against the
## real kube-apiserver, etcd and routing daemons
test: deps node-bin images metallb promtool verify lint
	KUBEBUILDER_ASSETS=$$(hack/kube-bin.sh) ROUTELB_METALLB_DIR=$$(hack/metallb-controller.sh) \
	  go test -count=1 -tags metallbdiff -timeout $(TEST_TIMEOUT) $(GO_TEST_FLAGS) ./...

## unit: only the tests that need neither root nor the API server
unit:
	go test -short ./...

## demo: the lab cluster in network namespaces running the seed's scenarios (see e2e/)
demo: deps build
	@if [ -d e2e ] && ls e2e/*.go >/dev/null 2>&1; then \
	  KUBEBUILDER_ASSETS=$$(hack/kube-bin.sh) go run ./e2e/cmd/demo; \
	else echo "make demo: not yet: the lab (e2e/) has not landed; see the README's feature table"; exit 2; fi

## bench: the benchmarks behind docs/benchmarks.md (not assertions)
bench: deps metallb
	KUBEBUILDER_ASSETS=$$(hack/kube-bin.sh) ROUTELB_METALLB_DIR=$$(hack/metallb-speaker.sh) hack/bench.sh

## deps: Debian packages, kube-apiserver/kubectl, the FRR 10 root and the code generators
deps: packages kube-bin frr-root tools

# FRR 10.x (Debian 13) for the FRR version matrix; tests run its daemons with chroot (cached).
.PHONY: frr-root
frr-root: packages
	hack/frr-root.sh trixie >/dev/null

packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

kube-bin:
	hack/kube-bin.sh >/dev/null

## metallb: MetalLB v0.15.2's controller from the Go module proxy, cached, for the differential
## tests (controllers/ipam, build tag metallbdiff), which make test runs
## and its speaker, for the lab's MetalLB column and the migration test (e2e)
metallb:
	hack/metallb-controller.sh >/dev/null
	hack/metallb-speaker.sh >/dev/null

## node-bin: kubelet, kube-controller-manager, kube-scheduler, kube-proxy for the real node of
## e2e/realnode (the chart installed on a real kubelet), cached like kube-apiserver
node-bin: kube-bin
	hack/kube-bin.sh --node >/dev/null

tools: $(CONTROLLER_GEN) $(GOLANGCI)

$(CONTROLLER_GEN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.tmp go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS)/.tmp/controller-gen $@

$(GOLANGCI):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.tmp go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv $(TOOLS)/.tmp/golangci-lint $@

$(HELM):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.tmp go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS)/.tmp/helm $@

clean:
	rm -rf bin/

## images: the routelb image (FROM scratch), FRR 8.4/10.3, BIRD, pause and web images, built with podman and
## no registry (hack/images.sh), saved as docker-archives under $(CACHE)/images/ for `ctr images import`;
## prints each image and its archive. With docker, `docker build .` builds the routelb image (Dockerfile).
IMAGE ?= ghcr.io/routelb/routelb
TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
.PHONY: images helm
images:
	IMAGE=$(IMAGE) TAG=$(TAG) hack/images.sh

## helm: lint and template the chart (charts/routelb) with the cached helm, and package it into bin/
helm: $(HELM)
	$(HELM) lint --strict --kube-version v1.37.2 charts/routelb
	$(HELM) template routelb charts/routelb --namespace metallb-system --kube-version v1.37.2 >/dev/null
	mkdir -p bin && $(HELM) package charts/routelb -d bin/

tools: $(HELM)

## promtool: build promtool into the cache (hack/promtool.sh) for the chart's alert rule tests
.PHONY: promtool
promtool:
	hack/promtool.sh >/dev/null
