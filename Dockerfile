# syntax=docker/dockerfile:1
# The routelb image: /controller, /speaker and /reloader, static (CGO off), so /reloader also runs
# inside the upstream FRR image (Alpine, musl) where the chart copies it (init container cp-reloader).
# Build: `make images` (needs docker or podman; IMAGE=... TAG=... to name it).
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

# Alpine rather than distroless: the chart's cp-reloader init container needs /bin/cp.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates
COPY --from=build /out/controller /out/speaker /out/reloader /
# The controller runs as this user (the chart sets it too); the speaker pod sets root for raw sockets.
USER 65532:65532
ENTRYPOINT ["/controller"]
