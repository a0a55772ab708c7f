#!/usr/bin/env bash
# setup-envtest.sh builds the Kubernetes control-plane binaries that envtest (and the
# one-node test cluster) need, from the Go module proxy, and caches them outside the repo.
#
#   hack/setup-envtest.sh                      # kube-apiserver + etcd (what envtest needs)
#   hack/setup-envtest.sh kubelet kubectl ...  # any extra Kubernetes commands, same cache
#
# It prints ONE line on stdout: the directory to export as KUBEBUILDER_ASSETS. Progress
# goes to stderr. It is idempotent: binaries already in the cache are not rebuilt, a
# half-finished build never lands in the cache (build into a temp dir, then rename), and
# two concurrent runs are serialised with flock.
#
# Why not the usual download bucket or `go install`: the bucket is not reachable from
# our machines, and `go install k8s.io/kubernetes/cmd/...@vX` is refused because
# Kubernetes' go.mod has replace directives. A throwaway module that requires
# k8s.io/kubernetes and replaces each staging module (k8s.io/X v0.0.0) by its published
# v0.MINOR.PATCH builds fine.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
CACHE_ROOT="${OCB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overcloud-backup}"
DEST="${CACHE_ROOT}/envtest/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"

LOG_PREFIX=setup-envtest
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

k8s_cmds=()
want_etcd=0
if [ "$#" -eq 0 ]; then
  set -- kube-apiserver etcd
fi
for c in "$@"; do
  case "$c" in
    etcd) want_etcd=1 ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl) k8s_cmds+=("$c") ;;
    *) log "unknown command '$c' (want: etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)"; exit 2 ;;
  esac
done

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
command -v flock >/dev/null || { log "flock (util-linux) is not on PATH"; exit 1; }
mkdir -p "$DEST"
exec 9>"$DEST/.lock"
flock 9

missing=()
for c in "${k8s_cmds[@]}"; do
  [ -x "$DEST/$c" ] || missing+=("$c")
done
need_etcd=0
if [ "$want_etcd" = 1 ] && [ ! -x "$DEST/etcd" ]; then need_etcd=1; fi

if [ "${#missing[@]}" -eq 0 ] && [ "$need_etcd" = 0 ]; then
  log "cached in $DEST"
  echo "$DEST"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/ocb-envtest.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
goversion="$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"

if [ "${#missing[@]}" -gt 0 ]; then
  minor="$(echo "$K8S_VERSION" | sed -E 's/^v1\.([0-9]+)\..*/\1/')"
  patch="$(echo "$K8S_VERSION" | sed -E 's/^v1\.[0-9]+\.([0-9]+).*/\1/')"
  staging="v0.${minor}.${patch}"
  log "building ${missing[*]} ${K8S_VERSION} (cold: several minutes and ~2.5 GB of memory on 2 cores)"
  mod="$work/k8s"
  mkdir -p "$mod"
  kgomod="$(cd "$mod" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$kgomod" ] || { log "could not download k8s.io/kubernetes@${K8S_VERSION}"; exit 1; }
  {
    echo "module ocb.local/envtest-k8s"
    echo
    echo "go ${goversion}"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    # Only the staging modules Kubernetes itself requires at v0.0.0; its replace block
    # also names modules (sample-controller, sample-cli-plugin) the proxy does not serve.
    grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$kgomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >"$mod/go.mod"
  log "$(grep -c '^replace' "$mod/go.mod") staging modules replaced by ${staging}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
  done
  pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$mod" && go get "${pkgs[@]/%/@${K8S_VERSION}}" >&2)
  mkdir -p "$mod/out"
  (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o out/ "${pkgs[@]}")
  for c in "${missing[@]}"; do
    mv -f "$mod/out/$c" "$DEST/$c.tmp" && mv -f "$DEST/$c.tmp" "$DEST/$c"
  done
fi

if [ "$need_etcd" = 1 ]; then
  log "building etcd ${ETCD_VERSION}"
  mod="$work/etcd"
  mkdir -p "$mod"
  printf 'module ocb.local/envtest-etcd\n\ngo %s\n' "$goversion" >"$mod/go.mod"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2)
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$mod/etcd" go.etcd.io/etcd/server/v3)
  mv -f "$mod/etcd" "$DEST/etcd.tmp" && mv -f "$DEST/etcd.tmp" "$DEST/etcd"
fi

for c in "${k8s_cmds[@]}"; do
  if [ "$c" = kubectl ]; then "$DEST/$c" version --client >&2 2>&1; else "$DEST/$c" --version >&2 2>&1; fi ||
    log "WARNING: $DEST/$c does not run"
done
[ "$want_etcd" = 1 ] && { "$DEST/etcd" --version 2>&1 | head -1 >&2 || true; }
log "ready in $DEST"
echo "$DEST"
