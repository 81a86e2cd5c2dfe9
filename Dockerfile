# syntax=docker/dockerfile:1
# The routelb image: /controller, /speaker and /reloader, static (CGO off), so /reloader also runs
# inside the upstream FRR image (Alpine, musl) where the chart copies it (init container cp-reloader).
# Build with docker: `docker build -t IMAGE:TAG .`; without docker or registry: `make images` (podman).
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY frrtemplates/ frrtemplates/
COPY internal/ internal/
COPY l2responder/ l2responder/
COPY reloader/ reloader/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/controller ./cmd/speaker ./cmd/reloader

# FROM scratch: the binaries are static; the chart's init container runs `/reloader install` (no cp).
FROM scratch
COPY --from=build /out/controller /out/speaker /out/reloader /
# The controller's user; the chart runs the speaker as root with only NET_RAW (see the chart README).
USER 65532:65532
ENTRYPOINT ["/controller"]
