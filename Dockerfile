# The operator's one image: manager, and the backup agent that Jobs run.
# Build:  make docker-build IMG=overcloud-backup-operator:v0.1.0
FROM golang:1.26-bookworm AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY config/crd/ config/crd/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -o overcloud-backup-operator ./cmd

# The agent runs mariadb-dump and mariadb-backup's client side, and compresses with zstd:
# Debian's packages, not a distroless base.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-client mariadb-backup zstd openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot
COPY --from=builder /workspace/overcloud-backup-operator /usr/local/bin/overcloud-backup-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/overcloud-backup-operator"]
CMD ["manager"]
