#!/usr/bin/env bash
# hack/release.sh: the release artifacts for one version, into dist/VERSION/ (`make release`;
# docs/release.md).
#
#   hack/release.sh VERSION         VERSION is vMAJOR.MINOR.PATCH[-PRERELEASE], e.g. v0.1.0
#
# Writes overcloud-backup-operator-VERSION.oci.tar (the image, an OCI image-layout tar from
# hack/image.sh, linux/amd64), the two Helm charts (version VERSION without the v, appVersion
# and image tag VERSION), overcloud-backup-operator-bundle-VERSION.tar.gz (the OLM bundle from
# hack/olmbundle), kubectl-ocb-VERSION-linux-{amd64,arm64}.tar.gz, install.yaml (config/default
# with the image set) and SHA256SUMS over all of them. The directory is built aside and moved
# into place only when complete, so dist/VERSION/ is never half a release. Tarballs are
# reproducible: sorted names, owner 0, the last commit's time (SOURCE_DATE_EPOCH overrides it).
#
# Environment: KUSTOMIZE and HELM (the binaries; make release passes bin/'s), IMAGE_REPO
# (default overcloud-backup-operator; the image is IMAGE_REPO:VERSION), DIST_DIR (default
# ./dist), DOCKERFILE and OCB_CACHE_DIR (as hack/image.sh). Prints the release directory.
set -euo pipefail
umask 022

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
LOG_PREFIX=release
# shellcheck source=hack/lib.sh
source "$REPO/hack/lib.sh"

(($# == 1)) || usage
VERSION=$1

# valid_semver V: vMAJOR.MINOR.PATCH[-PRERELEASE] as semver.org has it (no leading zeros in
# numbers, pre-release identifiers of [0-9A-Za-z-], numeric ones without leading zeros), at
# most 64 bytes. Build metadata (+...) is refused: an image tag cannot hold a +. VERSION
# becomes file names, a tag and YAML values, so nothing else may pass.
valid_semver() {
	local v=$1 num='(0|[1-9][0-9]*)' pre id
	((${#v} <= 64)) || return 1
	[[ $v =~ ^v$num\.$num\.$num(-([0-9A-Za-z.-]+))?$ ]] || return 1
	pre=${BASH_REMATCH[5]}
	[[ -z ${BASH_REMATCH[4]} ]] && return 0
	[[ $pre != .* && $pre != *. && $pre != *..* ]] || return 1
	local IFS=.
	for id in $pre; do
		[[ $id =~ ^[0-9]+$ && $id =~ ^0[0-9] ]] && return 1
	done
	return 0
}
valid_semver "$VERSION" || die "VERSION must be vMAJOR.MINOR.PATCH[-PRERELEASE] (semver, at most 64 bytes), e.g. v0.1.0 or v1.2.0-rc.1"
readonly VERSION CHART_VERSION=${VERSION#v}

# IMAGE_REPO: [registry[:port]/]path, lower case, no tag or digest (the tag is VERSION); the
# chart's values.schema.json pattern, so the packaged chart accepts it.
IMAGE_REPO=${IMAGE_REPO:-overcloud-backup-operator}
if ((${#IMAGE_REPO} > 200)) || [[ ! $IMAGE_REPO =~ ^[a-z0-9]([-a-z0-9._/:]*[a-z0-9])?$ ]] ||
	[[ ${IMAGE_REPO##*/} == *:* || $IMAGE_REPO == *//* ]]; then
	die "IMAGE_REPO must be [registry[:port]/]name in lower case, without a tag or digest"
fi
readonly IMAGE_REPO IMG=$IMAGE_REPO:$VERSION

KUSTOMIZE=${KUSTOMIZE:-}
HELM=${HELM:-}
[[ -x $KUSTOMIZE ]] || die "set KUSTOMIZE to the kustomize binary (make release does)"
[[ -x $HELM ]] || die "set HELM to the helm binary (make release does)"
command -v go >/dev/null || die "go is not on PATH"
[[ -d $REPO/hack/olmbundle ]] || die "hack/olmbundle is missing: the OLM bundle cannot be built"
[[ -d $REPO/cmd/kubectl-ocb ]] || die "cmd/kubectl-ocb is missing: the plugin cannot be built"
[[ $(uname -m) == x86_64 ]] || die "the image's base is this machine's Debian rootfs: build the release on linux/amd64"

SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct)}
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]{1,12}$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970: $SOURCE_DATE_EPOCH"
export SOURCE_DATE_EPOCH

DIST_DIR=${DIST_DIR:-$REPO/dist}
install -d -m 0755 "$DIST_DIR"
DIST_DIR=$(cd "$DIST_DIR" && pwd)
readonly DIST_DIR OUT=$DIST_DIR/$VERSION
# The release is assembled in STAGE (next to OUT, so the final mv is a rename); WORK holds
# the copies it is made from. Both go on any exit; OUT is replaced only on success.
STAGE=$(mktemp -d "$DIST_DIR/.$VERSION.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ocb-release.XXXXXX")
readonly STAGE WORK
trap 'rm -rf "$STAGE" "$WORK"' EXIT
chmod 0755 "$STAGE"

declare -A SECS=()
# step NAME CMD...: run CMD, record its seconds under NAME.
step() {
	local name=$1 t
	shift
	t=$(date +%s%N)
	"$@"
	SECS[$name]=$((($(date +%s%N) - t) / 1000000))
	log "$name: done in $(printf '%d.%03d' $((SECS[$name] / 1000)) $((SECS[$name] % 1000))) s"
}

# tarball OUT DIR NAME...: a reproducible gzip'd tar of DIR's NAMEs (gzip -n: no name or time).
tarball() {
	local out=$1 dir=$2
	shift 2
	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		-C "$dir" -cf - -- "$@" | gzip -n -9 >"$out"
}

# install.yaml: config/default from a copy of config/ whose manager kustomization names IMG
# (the checked-in one stays as it is; hack/kube-node.sh deploy does the same).
build_install() {
	cp -r "$REPO/config" "$WORK/config"
	(cd "$WORK/config/manager" && "$KUSTOMIZE" edit set image "controller=$IMG") || die "kustomize edit set image failed"
	"$KUSTOMIZE" build "$WORK/config/default" >"$STAGE/install.yaml" || die "kustomize build config/default failed"
	grep -qxF "        image: $IMG" "$STAGE/install.yaml" || die "install.yaml does not name $IMG"
}

# The charts, packaged from copies: version CHART_VERSION, appVersion VERSION (the image tag
# defaults to it: the chart's ocb.image helper) and image.repository IMAGE_REPO.
build_charts() {
	local c=overcloud-backup-operator values
	cp -r "$REPO/charts" "$WORK/charts"
	values=$WORK/charts/$c/values.yaml
	# Exactly one `  repository:` line under the top-level `image:` block; anything else means
	# the values changed shape and this edit must be revisited.
	awk -v repo="$IMAGE_REPO" '
		/^[^ #]/ { inimage = ($0 ~ /^image:/) }
		inimage && /^  repository: / { print "  repository: " repo; n++; next }
		{ print }
		END { if (n != 1) exit 3 }' "$values" >"$values.new" || die "$values: no single image.repository to set"
	mv "$values.new" "$values"
	grep -qx '  tag: ""' "$values" || die "$values: image.tag is no longer empty (defaulting to appVersion)"
	for c in overcloud-backup-operator-crds overcloud-backup-operator; do
		"$HELM" package "$WORK/charts/$c" --version "$CHART_VERSION" --app-version "$VERSION" \
			-d "$STAGE" >/dev/null || die "helm package $c failed"
		[[ -f $STAGE/$c-$CHART_VERSION.tgz ]] || die "helm package did not write $c-$CHART_VERSION.tgz"
	done
}

build_bundle() {
	(cd "$REPO" && go run ./hack/olmbundle -kustomize "$KUSTOMIZE" -version "$CHART_VERSION" \
		-image "$IMG" -out "$WORK/bundle") || die "hack/olmbundle failed"
	[[ -d $WORK/bundle/manifests && -d $WORK/bundle/metadata ]] || die "hack/olmbundle wrote no manifests/ and metadata/"
	local names=()
	mapfile -t names < <(cd "$WORK/bundle" && LC_ALL=C find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
	tarball "$STAGE/overcloud-backup-operator-bundle-$VERSION.tar.gz" "$WORK/bundle" "${names[@]}"
}

# kubectl-ocb for linux/ARCH, static (CGO_ENABLED=0). main.version is set when the plugin
# declares it (the -X flag is ignored otherwise, and said so).
build_plugin() {
	local arch=$1
	local dir=$WORK/plugin-$arch files=(kubectl-ocb)
	install -d "$dir"
	(cd "$REPO" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
		-ldflags "-X main.version=$VERSION" -o "$dir/kubectl-ocb" ./cmd/kubectl-ocb) ||
		die "go build ./cmd/kubectl-ocb for linux/$arch failed"
	# awk reads all of nm's output (grep -q would close the pipe early and fail nm).
	if ! go tool nm "$dir/kubectl-ocb" | awk '$NF == "main.version" { found = 1 } END { exit !found }'; then
		log "WARNING: cmd/kubectl-ocb has no main.version: its binary does not know it is $VERSION"
	fi
	if [[ -f $REPO/LICENSE ]]; then
		cp "$REPO/LICENSE" "$dir/LICENSE"
		files+=(LICENSE)
	fi
	tarball "$STAGE/kubectl-ocb-$VERSION-linux-$arch.tar.gz" "$dir" "${files[@]}"
}

build_image() {
	local tar
	tar=$(DOCKERFILE=${DOCKERFILE:-$REPO/Dockerfile} OCB_IMAGE_NO_IMPORT=1 "$REPO/hack/image.sh" "$IMG") ||
		die "hack/image.sh $IMG failed"
	[[ -f $tar ]] || die "hack/image.sh printed no image tar: $tar"
	cp "$tar" "$STAGE/overcloud-backup-operator-$VERSION.oci.tar"
}

# SHA256SUMS: every other file, by name, in sha256sum's format (`sha256sum -c SHA256SUMS`).
write_sums() {
	local names=()
	mapfile -t names < <(cd "$STAGE" && LC_ALL=C find . -mindepth 1 -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort)
	(cd "$STAGE" && sha256sum -- "${names[@]}") >"$STAGE/SHA256SUMS"
}

log "Release $VERSION (image $IMG, charts $CHART_VERSION, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH) into $OUT"
step install.yaml build_install
step charts build_charts
step bundle build_bundle
step plugin-amd64 build_plugin amd64
step plugin-arm64 build_plugin arm64
step image build_image
step SHA256SUMS write_sums
(cd "$STAGE" && sha256sum --quiet -c SHA256SUMS) || die "SHA256SUMS does not verify"
chmod 0644 "$STAGE"/*

rm -rf "$OUT"
mv "$STAGE" "$OUT"
summary=
for s in install.yaml charts bundle plugin-amd64 plugin-arm64 image SHA256SUMS; do
	summary+=" $s $((SECS[$s] / 1000)).$(printf '%03d' $((SECS[$s] % 1000)))s,"
done
log "Done in $(($(elapsed) / 1000)) s:${summary%,}"
(cd "$OUT" && ls -l --time-style=+ -- *) | sed "s|^|$LOG_PREFIX: |" >&2
echo "$OUT"
