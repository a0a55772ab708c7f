#!/usr/bin/env bash
# hack/image.sh: the operator's image without a container engine (`make image`).
#
#   hack/image.sh [NAME:TAG]        default overcloud-backup-operator:dev (never :latest)
#
# The Dockerfile's runtime stage is the definition: hack/ociimage reads its base suite,
# packages, useradd command, USER, ENTRYPOINT and CMD (and refuses an instruction it does
# not understand). The base layer is a Debian rootfs from debootstrap --variant=minbase
# with those packages, upgraded from the suite's -updates and -security like the Debian
# image's sources, plus the user; it is cached, keyed by everything that goes into it, so
# a second build only recompiles the binary and writes its layer. The result is an OCI
# image-layout tar (two uncompressed layers: base, binary), checked against the Dockerfile
# (`ociimage check`), and imported into the one-node Kubernetes when it is up.
#
# Environment: DOCKERFILE (default ./Dockerfile), OCB_CACHE_DIR (default
# ~/.cache/overcloud-backup), OCB_DEBIAN_MIRROR (default: the mirror apt uses),
# OCB_IMAGE_NO_IMPORT=1 (only build the tar). Prints the image tar's path on stdout.
set -euo pipefail
umask 022
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly NAME="${1:-overcloud-backup-operator:dev}"
readonly DOCKERFILE="${DOCKERFILE:-$REPO/Dockerfile}"
readonly CACHE="${OCB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overcloud-backup}"
readonly IMGDIR="$CACHE/image"
# Bump when the base recipe below changes: it is part of the cache key.
readonly BASE_RECIPE=3

LOG_PREFIX=image
# shellcheck source=hack/lib.sh
source "$REPO/hack/lib.sh"
ms() { elapsed; }

case "$NAME" in
*:latest | *@*) die "give an explicit tag other than latest: $NAME" ;;
*:*) ;;
*) die "give NAME:TAG, got $NAME" ;;
esac
[[ -f $DOCKERFILE ]] || die "no Dockerfile at $DOCKERFILE"
command -v go >/dev/null || die "go is not on PATH"

install -d -m 0755 "$IMGDIR" "$CACHE/bin"
exec 8>"$IMGDIR/.lock"
flock -w 1800 8 || die "another hack/image.sh holds $IMGDIR/.lock"

# ociimage: rebuilt when its sources change.
OCIIMAGE=$CACHE/bin/ociimage
if [[ ! -x $OCIIMAGE ]] || [[ -n $(find "$REPO/hack/ociimage" -name '*.go' -newer "$OCIIMAGE" 2>/dev/null) ]]; then
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$OCIIMAGE.tmp" ./hack/ociimage) || die "building hack/ociimage"
	mv -f "$OCIIMAGE.tmp" "$OCIIMAGE"
fi

spec=$("$OCIIMAGE" spec -dockerfile "$DOCKERFILE") || die "cannot build what $DOCKERFILE describes (see above)"
OCI_SUITE='' OCI_PACKAGES='' OCI_ACCOUNTS='' OCI_BINARY=''
eval "$spec"

# mirror_for SUITE: the archive apt on this machine uses for SUITE.
mirror_for() {
	# shellcheck disable=SC2016 # $(...) is apt's format syntax, not the shell's
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' 2>/dev/null |
		awk -v s="$1" '$2 == s && $3 == "Packages" {sub("/$", "", $1); print $1; exit}'
}
MIRROR="${OCB_DEBIAN_MIRROR:-$(mirror_for "$OCI_SUITE")}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY="${OCB_DEBIAN_SECURITY_MIRROR:-$(mirror_for "$OCI_SUITE-security")}"
SECURITY="${SECURITY:-${MIRROR%/debian}/debian-security}"

key=$(printf '%s\n' "$BASE_RECIPE" "$OCI_SUITE" "$MIRROR" "$SECURITY" "$OCI_PACKAGES" "$OCI_ACCOUNTS" | sha256sum | cut -c1-16)
BASE="$IMGDIR/base-$OCI_SUITE-$key"

# in_root ROOTFS CMD...: run CMD in the rootfs, with a minimal environment.
in_root() {
	local root=$1
	shift
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" "$@"
}

build_base() {
	[[ $EUID -eq 0 ]] || die "building the base rootfs needs root (debootstrap, chroot)"
	command -v debootstrap >/dev/null || die "debootstrap is not installed (hack/kube-node.sh up installs it)"
	local tmp=$BASE.tmp rootfs
	rootfs=$tmp/rootfs
	FAILED_ROOTFS=$rootfs # removed by cleanup unless the build completes
	# A previous run that died may have left debootstrap's mounts behind.
	if [[ -d $tmp ]]; then
		local m
		while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v p="$rootfs/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r)
		rm -rf "$tmp"
	fi
	mkdir -p "$tmp"
	log "Base rootfs: debootstrap --variant=minbase $OCI_SUITE from $MIRROR with: $OCI_PACKAGES"
	if ! timeout 1200 debootstrap --variant=minbase --include="${OCI_PACKAGES// /,}" \
		"$OCI_SUITE" "$rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1; then
		tail -20 "$tmp/debootstrap.log" >&2
		die "debootstrap failed (log: $tmp/debootstrap.log)"
	fi
	log "debootstrap done at $(ms) ms; upgrading from $OCI_SUITE-updates and $OCI_SUITE-security"
	rm -f "$rootfs/etc/apt/sources.list"
	cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $MIRROR
		Suites: $OCI_SUITE $OCI_SUITE-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: $SECURITY
		Suites: $OCI_SUITE-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
	printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
	chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
	if ! { in_root "$rootfs" apt-get -o Acquire::Retries=3 update &&
		in_root "$rootfs" apt-get -y -o Dpkg::Options::=--force-confold upgrade; } >"$tmp/upgrade.log" 2>&1; then
		tail -20 "$tmp/upgrade.log" >&2
		die "apt-get upgrade in the rootfs failed (log: $tmp/upgrade.log)"
	fi
	# The Dockerfile's groupadd/useradd, word for word (plain argv, no quoting).
	local line
	local -a argv
	while IFS= read -r line; do
		read -r -a argv <<<"$line"
		if ! in_root "$rootfs" "${argv[@]}" >"$tmp/accounts.log" 2>&1; then
			cat "$tmp/accounts.log" >&2
			die "the Dockerfile's '$line' fails in a Debian $OCI_SUITE rootfs (so would docker build)"
		fi
	done <<<"$OCI_ACCOUNTS"
	in_root "$rootfs" apt-get clean
	# What the Dockerfile removes, and what belongs to this host rather than the image.
	rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs/usr/sbin/policy-rc.d" "$rootfs"/var/log/apt/* \
		"$rootfs"/var/log/{dpkg,alternatives,bootstrap}.log "$rootfs"/var/cache/apt/*.bin
	: >"$rootfs/etc/resolv.conf"
	printf 'localhost\n' >"$rootfs/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
	if grep -qs " $rootfs/" /proc/self/mounts; then
		die "mounts left under $rootfs after debootstrap: $(grep " $rootfs/" /proc/self/mounts | head -3)"
	fi
	local digest
	digest=$("$OCIIMAGE" layer -dir "$rootfs" -o "$tmp/layer.tar") || die "ociimage layer failed"
	printf '%s\n' "$OCI_PACKAGES" >"$tmp/packages"
	printf '%s\n' "$digest" >"$tmp/digest"
	rm -rf "$rootfs"
	FAILED_ROOTFS=''
	mv "$tmp" "$BASE"
	log "Base layer $digest ($(du -m "$BASE/layer.tar" | cut -f1) MB) cached in $BASE at $(ms) ms"
}

FAILED_ROOTFS='' work=''
cleanup() {
	[[ -n $work ]] && rm -rf "$work"
	# A failed base build: keep its logs, drop the rootfs (~300 MB), never through a mount.
	if [[ -n $FAILED_ROOTFS && -d $FAILED_ROOTFS ]]; then
		if grep -qs " $FAILED_ROOTFS/" /proc/self/mounts; then
			log "mounts left under $FAILED_ROOTFS: not removing it"
		else
			rm -rf --one-file-system "$FAILED_ROOTFS"
			log "Removed the unfinished rootfs; logs in $(dirname "$FAILED_ROOTFS")"
		fi
	fi
}
trap cleanup EXIT

if [[ ! -f $BASE/layer.tar ]]; then
	build_base
else
	log "Base layer cached: $BASE ($(cat "$BASE/digest"))"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ocb-image.XXXXXX")
# As the Dockerfile's builder stage builds it.
(cd "$REPO" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' \
	-o "$work/overcloud-backup-operator" ./cmd) || die "go build ./cmd failed"
log "Binary built at $(ms) ms"
safe=${NAME//[\/:]/_}
"$OCIIMAGE" layer -file "$work/overcloud-backup-operator=$OCI_BINARY:0755" -o "$IMGDIR/$safe.app.tar" >/dev/null
digest=$("$OCIIMAGE" build -o "$IMGDIR/$safe.tar" -name "$NAME" -dockerfile "$DOCKERFILE" \
	-layer "$BASE/layer.tar" -layer "$IMGDIR/$safe.app.tar")
rm -f "$IMGDIR/$safe.app.tar"
"$OCIIMAGE" check -image "$IMGDIR/$safe.tar" -dockerfile "$DOCKERFILE" >&2
log "Image $NAME $digest: $IMGDIR/$safe.tar ($(du -m "$IMGDIR/$safe.tar" | cut -f1) MB) at $(ms) ms"

if [[ ${OCB_IMAGE_NO_IMPORT:-} != 1 ]]; then
	rc=0
	"$REPO/hack/kube-node.sh" import "$IMGDIR/$safe.tar" >&2 || rc=$?
	case $rc in
	0) log "In the one-node Kubernetes at $(ms) ms" ;;
	3) log "The one-node Kubernetes is not up: not imported (hack/kube-node.sh up imports it)" ;;
	*) die "importing into the one-node Kubernetes failed" ;;
	esac
fi
echo "$IMGDIR/$safe.tar"
