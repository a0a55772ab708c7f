#!/usr/bin/env bash
# hack/cold-rehearsal.sh: every branch that only a fresh machine takes, taken on every CI run.
#
# CI runs on a machine that has run CI before: its packages are installed and its caches
# full, so the branches of hack/ that only a fresh machine takes would never run there.
# This script makes the machine cold where that is cheap, then brings everything up through
# the scripts' ordinary entry points (the same ones `make demo` and `make test` call), and
# checks that each piece came back:
#
#   what is made cold                              the branch it rehearses
#   a Debian package of each script's list         ensure_packages installing (hack/lib.sh)
#     (haproxy and resource-agents, which takes      the live sandbox (the default) comes up first:
#     pacemaker and pacemaker-cli-utils with it:     its list is the file sandbox's plus pacemaker,
#     overcloud.sh; debootstrap: kube-node.sh)       corosync and resource-agents: it installs all
#   kubectl removed from the binary cache          setup-envtest.sh building, called by kube-node.sh
#   hack/ociimage's binary and the pause image     their builds in kube-node.sh and image.sh
#   the image's base layer (debootstrap)           image.sh building it (about 1.5 min)
#   the state directories purged                   overcloud.sh (live, and OCB_PACEMAKER=file, which
#                                                  no test uses: up, checked, down again) and
#                                                  kube-node.sh up from nothing (live: nsinit built,
#                                                  Corosync keys made, the CIB seeded)
#   (checked first) a failing command in a hack/   the ERR trap naming script, line, command, status
#     script
#
# The Go caches and the other Kubernetes binaries stay: a fresh machine builds them with
# the same code path that builds kubectl here (a truly cold run is timed in README).
#
#   hack/cold-rehearsal.sh          refuses unless CI=true or FORCE=1 (it removes packages)
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX=cold-rehearsal
CACHE="${OCB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overcloud-backup}"
STATE=$CACHE
# shellcheck source=hack/lib.sh
source "$REPO/hack/lib.sh"

[[ ${CI:-} == true || ${FORCE:-} == 1 ]] || die "this removes packages and purges the sandboxes: run it with CI=true or FORCE=1"
[[ $EUID -eq 0 ]] || die "run as root (apt-get, the sandboxes)"

K8S_VERSION=v1.37.2 ETCD_VERSION=v3.7.0
BIN="$CACHE/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
# A package of each script's list. haproxy and debootstrap are leaves (nothing installed
# depends on them). resource-agents is not: removing it removes pacemaker,
# pacemaker-cli-utils and pacemaker-resource-agents too (DEPENDENTS), all of which the live
# sandbox's list brings back. The file sandbox's pacemaker-cli-utils pulls the same ones in,
# which is why the live sandbox comes up first: its own install is the one rehearsed.
declare -A REMOVE=([haproxy]=hack/overcloud.sh [resource-agents]=hack/overcloud.sh
	[debootstrap]=hack/kube-node.sh)
declare -A DEPENDENTS=([pacemaker]=hack/overcloud.sh
	[pacemaker-cli-utils]=hack/overcloud.sh [pacemaker-resource-agents]=hack/overcloud.sh)

step() { log "--- $* ($(elapsed) ms)"; }
installed() { [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == "ii " ]]; }

step "1. the ERR trap names the failing command"
out=$(bash -c 'LOG_PREFIX=probe; source "$1"; set -euo pipefail; f() { false; }; f' _ "$REPO/hack/lib.sh" 2>&1) && die "a failing script exited 0"
[[ $out == *'probe: ERROR: '*' line 1: "false" exited with status 1'* ]] || die "the ERR trap printed: $out"
out=$(bash -c 'LOG_PREFIX=probe; source "$1"; set -euo pipefail; x=$(exit 3)' _ "$REPO/hack/lib.sh" 2>&1) && die "a failing script exited 0"
[[ $out == *'exited with status 3'* ]] || die "the ERR trap did not report a failed command substitution: $out"
out=$(bash -c 'LOG_PREFIX=probe; source "$1"; set -euo pipefail; false || true; if false; then :; fi; echo fine' _ "$REPO/hack/lib.sh" 2>&1)
[[ $out == fine ]] || die "the ERR trap spoke of a handled failure: $out"

step "2. down, purged: the local overcloud and the one-node Kubernetes"
"$REPO/hack/kube-node.sh" down --purge
# The live sandbox first: the file sandbox's purge removes the SSH user they share.
LIVE_DIR=${OCB_SANDBOX_DIR:-/tmp/ocb-live} FILE_DIR=${OCB_FILE_SANDBOX_DIR:-/tmp/ocb-overcloud}
FILE_ENV=(OCB_PACEMAKER=file OCB_SANDBOX_DIR="$FILE_DIR")
OCB_SANDBOX_DIR=$LIVE_DIR "$REPO/hack/overcloud.sh" down --purge
env "${FILE_ENV[@]}" "$REPO/hack/overcloud.sh" down --purge
[[ ! -e $FILE_DIR && ! -e $LIVE_DIR && ! -e ${OCB_KUBE_DIR:-/tmp/ocb-kube} ]] || die "a state directory survived --purge"

step "3. removed: packages ${!REMOVE[*]}, kubectl, ociimage, the pause image, the image's base layer"
for p in "${!REMOVE[@]}"; do
	if installed "$p"; then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 remove -y -qq "$p" >"$CACHE/rehearsal-apt.log" 2>&1 ||
			{ tail -20 "$CACHE/rehearsal-apt.log" >&2; die "apt-get remove $p failed"; }
	fi
	! installed "$p" || die "$p is still installed"
done
for p in "${!DEPENDENTS[@]}"; do
	! installed "$p" || die "$p is still installed after its dependencies were removed"
done
rm -f "$BIN/kubectl" "$CACHE/bin/ociimage" "$CACHE/image/ocb-pause.tar"
rm -rf --one-file-system "$CACHE"/image/base-*

step "4. up from cold: the live Pacemaker sandbox (hack/overcloud.sh up)"
OCB_SANDBOX_DIR=$LIVE_DIR "$REPO/hack/overcloud.sh" up
step "4b. up from cold: the file sandbox (OCB_PACEMAKER=file hack/overcloud.sh up)"
env "${FILE_ENV[@]}" "$REPO/hack/overcloud.sh" up
step "5. up from cold: hack/kube-node.sh up"
"$REPO/hack/kube-node.sh" up
step "6. the image: its base layer debootstrapped again"
OCB_IMAGE_NO_IMPORT=1 "$REPO/hack/image.sh" overcloud-backup-operator:rehearsal >/dev/null
rm -f "$CACHE/image/overcloud-backup-operator_rehearsal.tar"

step "7. each came back"
for p in "${!REMOVE[@]}"; do
	installed "$p" || die "$p was not reinstalled by ${REMOVE[$p]}"
	log "$p: reinstalled by ${REMOVE[$p]}"
done
for p in "${!DEPENDENTS[@]}"; do
	installed "$p" || die "$p (removed with resource-agents) was not reinstalled by ${DEPENDENTS[$p]}"
	log "$p: reinstalled by ${DEPENDENTS[$p]}"
done
[[ $("$BIN/kubectl" version --client 2>/dev/null) == *"$K8S_VERSION"* ]] || die "kubectl was not rebuilt as $K8S_VERSION in $BIN"
[[ -x $CACHE/bin/ociimage && -s $CACHE/image/ocb-pause.tar ]] || die "hack/ociimage or the pause image was not rebuilt"
compgen -G "$CACHE/image/base-*/layer.tar" >/dev/null || die "the image's base layer was not rebuilt"
OCB_SANDBOX_DIR=$LIVE_DIR "$REPO/hack/overcloud.sh" status >/dev/null || die "hack/overcloud.sh status: unhealthy after up"
env "${FILE_ENV[@]}" "$REPO/hack/overcloud.sh" status >/dev/null || die "the file sandbox's status: unhealthy after up"
# No test uses the file sandbox: down again, so it does not compete with the tests.
env "${FILE_ENV[@]}" "$REPO/hack/overcloud.sh" down
"$REPO/hack/kube-node.sh" status >/dev/null || die "hack/kube-node.sh status: unhealthy after up"
log "Every cold branch ran and everything came back, in $(elapsed) ms"
