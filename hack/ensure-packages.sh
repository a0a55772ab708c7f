#!/usr/bin/env bash
# hack/ensure-packages.sh PACKAGE...: install the Debian packages among PACKAGE that are
# missing, and return at once when none is. The same function (hack/lib.sh's
# ensure_packages) installs what hack/overcloud.sh and hack/kube-node.sh need; this is its
# entry point for .ci/run and make (shellcheck for `make lint`). apt's log goes to
# $OCB_CACHE_DIR/apt.log (default ~/.cache/overcloud-backup).
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX=ensure-packages
STATE="${OCB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overcloud-backup}"
# shellcheck source=hack/lib.sh
source "$REPO/hack/lib.sh"

(($# > 0)) || usage
[[ $EUID -eq 0 ]] || die "run as root (apt-get install)"
PACKAGES=("$@")
ensure_packages
