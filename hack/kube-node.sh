#!/usr/bin/env bash
# hack/kube-node.sh: a one-node Kubernetes on this machine, as plain processes, offline.
#
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet and
# kube-proxy (v1.37.2, built by hack/setup-envtest.sh from the Go module proxy; containerd,
# runc and the CNI plugins from Debian), every PID recorded, every file under the state
# dir. Pods reach the local overcloud (hack/overcloud.sh) over the route to its subnet.
#
#   hack/kube-node.sh up            start what is not running (idempotent), wait for Ready
#   hack/kube-node.sh down [--purge] delete the pods through the API, stop every PID, undo
#                                   every host change; --purge also removes the state dir
#   hack/kube-node.sh status        one line per daemon, node, routes; exit 1 unless healthy
#   hack/kube-node.sh kubeconfig    print the admin kubeconfig's path
#   hack/kube-node.sh env           print export lines (KUBECONFIG, OCB_KUBECTL, ...)
#   hack/kube-node.sh storage       ensure the StorageClass and PVs; recycle Released PVs
#   hack/kube-node.sh import TAR... import OCI image-layout tars into the node's containerd
#                                   (exit 3 when containerd is not running)
#   hack/kube-node.sh deploy [IMG]  the operator from config/default (KUSTOMIZE=path), Ready
#
# Environment: OCB_KUBE_DIR (state, default /tmp/ocb-kube), OCB_CACHE_DIR (binaries and
# images, default ~/.cache/overcloud-backup), OCB_NET (the overcloud's first three octets,
# default 10.79.0, as hack/overcloud.sh's), OCB_FILE_NET (the file sandbox's, OCB_PACEMAKER=file,
# default 10.77.0), OCB_KUBE_PVS (local PVs, default 4). docs/kube-node.md has the details.
set -euo pipefail
umask 022
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly STATE="${OCB_KUBE_DIR:-/tmp/ocb-kube}"
readonly CACHE="${OCB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overcloud-backup}"
readonly K8S_VERSION=v1.37.2 ETCD_VERSION=v3.7.0
readonly NODE_NAME=ocb-node
# The node IP: a /32 on a bridge without ports (no dummy links here; loopback is refused).
readonly NODE_BRIDGE=ocbk-node NODE_IP=10.78.0.1
# Pods: one /24 on the CNI bridge, services: one /24. Neither overlaps the overclouds'
# 10.79.0.0/24 (ocl-br0) and 10.77.0.0/24 (ocb-br0) nor the uplink.
readonly CNI_BRIDGE=ocbk-cni0 POD_CIDR=10.244.0.0/24 POD_GW=10.244.0.1
readonly SERVICE_CIDR=10.96.0.0/24 API_SERVICE_IP=10.96.0.1
# The local overcloud (hack/overcloud.sh: Corosync and Pacemaker) and the optional file sandbox
# (OCB_PACEMAKER=file), each on its own bridge.
readonly LIVE_NET="${OCB_NET:-10.79.0}.0/24" LIVE_BRIDGE=ocl-br0
readonly FILE_NET="${OCB_FILE_NET:-10.77.0}.0/24" FILE_BRIDGE=ocb-br0
readonly API_PORT=6443 ETCD_PORT=12379 ETCD_PEER_PORT=12380
readonly PAUSE_IMAGE=localhost/ocb-pause:v1
readonly STORAGE_CLASS=local-backup
readonly PVS="${OCB_KUBE_PVS:-4}" PV_SIZE=10Gi
readonly OPERATOR_NS=overcloud-backup-system OPERATOR_DEPLOY=overcloud-backup-controller-manager
readonly PACKAGES=(containerd runc containernetworking-plugins iptables openssl debootstrap curl util-linux iproute2 procps)
readonly DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)
# What the kubelet, kube-proxy and the CNI bridge plugin may change; saved by the first
# `up`, restored by `down`.
readonly SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max)
# Host paths the daemons use outside the state dir (hard-coded in them); `down` removes
# the ones that did not exist before `up`.
readonly HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/lib/cni /run/containerd /var/lib/containerd
	/opt/containerd /etc/cni /opt/cni /run/runc /var/run/kubernetes /etc/kubernetes /usr/libexec/kubernetes)

readonly PKI=$STATE/pki KC=$STATE/kubeconfig ETC=$STATE/etc PIDS=$STATE/pids LOGS=$STATE/logs
readonly ADMIN_KC=$KC/admin.conf
readonly CTRD_SOCK=$STATE/containerd/containerd.sock
readonly PV_ROOT=$STATE/volumes
readonly BIN="$CACHE/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

LOG_PREFIX=kube-node
# shellcheck source=hack/lib.sh
source "$REPO/hack/lib.sh"

# ---------------------------------------------------------------------------------------------
# Processes: every daemon is started by spawn, which records its PID. A PID counts as ours
# only while /proc/PID/cmdline names the state dir (guards against PID reuse). Nothing is
# ever stopped by name.

# pid_of NAME: the recorded PID of daemon NAME if it is alive and ours.
pid_of() { pid_from "$PIDS/$1.pid"; }

# spawn NAME CMD...: start CMD detached (own session, no inherited lock fds), PID recorded.
spawn() {
	local name=$1
	shift
	printf '\n==== %s %s\n' "$(date -Is)" "$*" >>"$LOGS/$name.log"
	# A background child of a non-interactive shell is no process group leader, so setsid
	# does not fork and $! is the daemon's PID. fds 8 and 9 are locks (ours, hack/image.sh's).
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 8>&- 9>&- &
	echo $! >"$PIDS/$name.pid"
}

stop_daemon() {
	local pid
	if pid=$(pid_of "$1"); then
		stop_pid "$pid" "$1" "${2:-20}"
		log "Stopped $1 (pid $pid)"
	fi
	rm -f "$PIDS/$1.pid"
}

# wait_for SECONDS WHAT CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# need_running NAME: die with the end of its log unless daemon NAME is alive.
need_running() {
	pid_of "$1" >/dev/null && return 0
	tail -25 "$LOGS/$1.log" >&2 || true
	die "$1 exited (log: $LOGS/$1.log)"
}

kc() { "$BIN/kubectl" --kubeconfig "$ADMIN_KC" --request-timeout=20s "$@"; }
ctr_() { timeout 120 ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------
# Packages and binaries

ensure_root() { [[ $EUID -eq 0 ]] || die "run as root (network, cgroups, containerd, kubelet)"; }


ensure_binaries() {
	# Called on every `up`, cold or warm: setup-envtest.sh returns at once when every binary
	# is cached, and builds only the missing ones (env: K8S_VERSION is readonly here, and
	# bash refuses a readonly name as a command's assignment prefix).
	env K8S_VERSION="$K8S_VERSION" ETCD_VERSION="$ETCD_VERSION" OCB_CACHE_DIR="$CACHE" \
		"$REPO/hack/setup-envtest.sh" kube-apiserver etcd kube-controller-manager kube-scheduler \
		kubelet kube-proxy kubectl >/dev/null || die "hack/setup-envtest.sh failed"
}

# ensure_ociimage: hack/ociimage, rebuilt when its sources change.
ensure_ociimage() {
	OCIIMAGE=$CACHE/bin/ociimage
	if [[ ! -x $OCIIMAGE ]] || [[ -n $(find "$REPO/hack/ociimage" -name '*.go' -newer "$OCIIMAGE" 2>/dev/null) ]]; then
		install -d -m 0755 "$CACHE/bin"
		(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$OCIIMAGE.tmp" ./hack/ociimage) || die "building hack/ociimage"
		mv -f "$OCIIMAGE.tmp" "$OCIIMAGE"
	fi
}

# ensure_pause_image: the sandbox image, a static Go program (hack/kube-node/pause).
ensure_pause_image() {
	local tar=$CACHE/image/ocb-pause.tar src=$REPO/hack/kube-node/pause/main.go work
	if [[ -f $tar && $tar -nt $src ]]; then
		return 0
	fi
	command -v go >/dev/null || die "go is not on PATH (needed once for the pause image)"
	ensure_ociimage
	install -d -m 0755 "$CACHE/image"
	work=$(mktemp -d "${TMPDIR:-/tmp}/ocb-pause.XXXXXX")
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/pause" ./hack/kube-node/pause) ||
		die "building the pause program failed"
	"$OCIIMAGE" layer -file "$work/pause=/pause:0755" -o "$work/layer.tar" >/dev/null
	"$OCIIMAGE" build -o "$tar" -name "$PAUSE_IMAGE" -entrypoint '["/pause"]' -user 65535:65535 -layer "$work/layer.tar" >/dev/null
	rm -rf "$work"
	log "Built the pause image $PAUSE_IMAGE"
}

# ---------------------------------------------------------------------------------------------
# Host state: sysctls, paths, cgroups

save_host_state() {
	[[ -f $STATE/host/sysctl.saved ]] && return 0
	install -d -m 0755 "$STATE/host"
	local s v p
	for s in "${SYSCTLS[@]}"; do
		v=$(sysctl -n "$s" 2>/dev/null) || continue
		printf '%s=%s\n' "$s" "$v"
	done >"$STATE/host/sysctl.saved.tmp"
	for p in "${HOST_PATHS[@]}"; do
		[[ -e $p ]] || echo "$p"
	done >"$STATE/host/paths.absent"
	find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -name kubepods -type d >"$STATE/host/cgroups.present" 2>/dev/null || true
	cni_netns >"$STATE/host/netns.present"
	mv "$STATE/host/sysctl.saved.tmp" "$STATE/host/sysctl.saved"
}

restore_sysctls() {
	local f=$STATE/host/sysctl.saved line s v
	[[ -f $f ]] || return 0
	while IFS= read -r line; do
		s=${line%%=*} v=${line#*=}
		if [[ $(sysctl -n "$s" 2>/dev/null) != "$v" ]]; then
			sysctl -q -w "$s=$v" || log "could not restore $s=$v"
		fi
	done <"$f"
	log "Restored sysctls: $(tr '\n' ' ' <"$f")"
	rm -f "$f"
}

# cni_netns: the pod network namespaces containerd made (cni-*).
cni_netns() {
	local f
	for f in /run/netns/cni-*; do
		[[ -e $f ]] && basename "$f"
	done
	return 0
}

# kubepods_cgroups: the kubelet's cgroup trees, in every hierarchy.
kubepods_cgroups() { find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -name kubepods -type d 2>/dev/null || true; }

remove_cgroups() {
	local d sub left=0
	while read -r d; do
		[[ -n $d ]] || continue
		grep -qxF "$d" "$STATE/host/cgroups.present" 2>/dev/null && continue
		# Depth first; a cgroup with tasks left is reported, not forced.
		while read -r sub; do
			rmdir "$sub" 2>/dev/null || { left=1 && log "cgroup $sub still busy: $(head -c 200 "$sub/cgroup.procs" | tr '\n' ' ')"; }
		done < <(find "$d" -depth -type d)
	done < <(kubepods_cgroups)
	return "$left"
}

# mounts_under DIR...: mount points below any DIR, deepest first.
mounts_under() {
	local d
	for d in "$@"; do
		awk -v p="$d/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo
	done | sort -r -u
}

unmount_under() {
	local m
	while read -r m; do
		[[ -n $m ]] || continue
		umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
	done < <(mounts_under "$@")
}

remove_host_paths() {
	local p
	[[ -f $STATE/host/paths.absent ]] || return 0
	while read -r p; do
		[[ -n $p && -e $p ]] || continue
		if [[ -n $(mounts_under "$p") ]]; then
			log "not removing $p: still has mounts: $(mounts_under "$p" | head -3 | tr '\n' ' ')"
			continue
		fi
		rm -rf --one-file-system "$p"
		log "Removed $p (made by the daemons)"
	done <"$STATE/host/paths.absent"
	rm -f "$STATE/host/paths.absent"
}

# ---------------------------------------------------------------------------------------------
# Network

uplink() { ip -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}'; }

# overlap_check: refuse when another interface or route already covers our ranges.
overlap_check() {
	local cidr line
	for cidr in "$NODE_IP/32" "$POD_CIDR" "$SERVICE_CIDR"; do
		while read -r line; do
			[[ -z $line || $line == default* ]] && continue
			[[ $line == *" dev $NODE_BRIDGE"* || $line == *" dev $CNI_BRIDGE"* ]] && continue
			die "route '$line' already covers $cidr; refusing to start"
		done < <(ip -4 route show table all match "$cidr" 2>/dev/null | grep -v '^broadcast\|^local' || true)
	done
	case "$FILE_NET" in 10.78.0.0/24 | 10.244.0.0/24 | 10.96.0.0/24) die "OCB_FILE_NET overlaps the node's ranges" ;; esac
	case "$LIVE_NET" in 10.78.0.0/24 | 10.244.0.0/24 | 10.96.0.0/24) die "OCB_NET overlaps the node's ranges" ;; esac
}

ensure_bridge() {
	local br=$1 addr=$2
	if ! ip link show "$br" >/dev/null 2>&1; then
		ip link add "$br" type bridge || die "cannot create bridge $br"
	fi
	ip addr replace "$addr" dev "$br"
	ip link set "$br" up
}

ipt_rule() { # ipt_rule ARGS...: append the rule to OCBK-FORWARD unless present
	iptables -w 5 -C OCBK-FORWARD "$@" 2>/dev/null || iptables -w 5 -A OCBK-FORWARD "$@"
}

network_up() {
	if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || ! ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
		overlap_check
	fi
	ensure_bridge "$NODE_BRIDGE" "$NODE_IP/32"
	# The CNI bridge plugin would create it with the first pod; made here so the pod CIDR
	# always routes to it (never to the uplink), pods or not.
	ensure_bridge "$CNI_BRIDGE" "$POD_GW/24"
	# ClusterIPs are DNATed before they are routed; unallocated ones must not leak out.
	ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
	sysctl -q -w net.ipv4.ip_forward=1
	# bridge-nf-call-iptables is 1 here: FORWARD sees bridged traffic too. Pods and the
	# overclouds' controllers (file and live) talk routed, without NAT (the controllers'
	# default route is the host, 10.77.0.1 or 10.79.0.1); pods never reach the uplink. Each
	# rule names its overcloud's bridge: while an overcloud is down its subnet routes by
	# default, and its traffic must meet the REJECT below, not an ACCEPT.
	iptables -w 5 -N OCBK-FORWARD 2>/dev/null || true
	local up
	up=$(uplink)
	ipt_rule -s "$POD_CIDR" -d "$FILE_NET" -o "$FILE_BRIDGE" -j ACCEPT
	ipt_rule -s "$FILE_NET" -d "$POD_CIDR" -i "$FILE_BRIDGE" -j ACCEPT
	ipt_rule -s "$POD_CIDR" -d "$LIVE_NET" -o "$LIVE_BRIDGE" -j ACCEPT
	ipt_rule -s "$LIVE_NET" -d "$POD_CIDR" -i "$LIVE_BRIDGE" -j ACCEPT
	ipt_rule -s "$POD_CIDR" -d "$POD_CIDR" -j ACCEPT
	if [[ -n $up ]]; then
		ipt_rule -s "$POD_CIDR" -o "$up" -j REJECT
		ipt_rule -d "$POD_CIDR" -i "$up" -j DROP
	fi
	if ! iptables -w 5 -C FORWARD -m comment --comment hack/kube-node.sh -j OCBK-FORWARD 2>/dev/null; then
		iptables -w 5 -I FORWARD 1 -m comment --comment hack/kube-node.sh -j OCBK-FORWARD
	fi
}

# remove_kube_chains CMD: every KUBE-*, CNI-* and OCBK-* chain of iptables or ip6tables,
# with the rules of other chains that jump to them.
remove_kube_chains() {
	local cmd=$1 t rule chain
	for t in filter nat mangle raw; do
		"$cmd" -w 5 -t "$t" -S >/dev/null 2>&1 || continue
		while read -r rule; do
			# shellcheck disable=SC2086 # the rule is iptables -S output, split on purpose
			eval "$cmd -w 5 -t $t ${rule/-A /-D }" 2>/dev/null || true
		done < <("$cmd" -w 5 -t "$t" -S | grep -E '^-A ' | grep -E -- '-j (KUBE|CNI|OCBK)-' | grep -vE '^-A (KUBE|CNI|OCBK)-')
		while read -r chain; do
			"$cmd" -w 5 -t "$t" -F "$chain" 2>/dev/null || true
		done < <("$cmd" -w 5 -t "$t" -S | awk '$1 == "-N" && $2 ~ /^(KUBE|CNI|OCBK)-/ {print $2}')
		while read -r chain; do
			"$cmd" -w 5 -t "$t" -X "$chain" 2>/dev/null || log "$cmd -t $t -X $chain failed"
		done < <("$cmd" -w 5 -t "$t" -S | awk '$1 == "-N" && $2 ~ /^(KUBE|CNI|OCBK)-/ {print $2}')
	done
}

network_down() {
	local ns
	remove_kube_chains iptables
	command -v ip6tables >/dev/null && remove_kube_chains ip6tables
	# Pod network namespaces containerd did not get to remove (none when the kubelet tore
	# the sandboxes down); only cni-* ones that did not exist before `up`.
	for ns in $(cni_netns); do
		grep -qxF "$ns" "$STATE/host/netns.present" 2>/dev/null && continue
		ip netns del "$ns" 2>/dev/null || { umount -l "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns"; }
		log "Removed network namespace $ns"
	done
	ip route del "$SERVICE_CIDR" dev "$NODE_BRIDGE" 2>/dev/null || true
	local br
	for br in "$CNI_BRIDGE" "$NODE_BRIDGE"; do
		if ip link show "$br" >/dev/null 2>&1; then
			ip link del "$br" || log "ip link del $br failed"
		fi
	done
}

# route_check: the overclouds through their bridges, pods through the CNI bridge, services and the
# node IP local; nothing through the uplink.
route_check() {
	local bad=0 a got up
	up=$(uplink)
	_rc_check() { # _rc_check WANT ip route get ARGS...
		local want=$1
		shift
		got=$(ip route get "$@" 2>&1 | head -1)
		if [[ $got != *"$want"* || (-n $up && $got == *" dev $up "*) ]]; then
			log "ROUTE CHECK FAILED: ip route get $* -> '$got' (want $want)"
			bad=1
		fi
	}
	local pod=${POD_CIDR%.*}.200 net br
	for net in "$FILE_NET:$FILE_BRIDGE" "$LIVE_NET:$LIVE_BRIDGE"; do
		br=${net#*:} net=${net%%:*}
		# Each overcloud is checked when its bridge is up (the live one is the tests'; the file
		# one, OCB_PACEMAKER=file, is optional). While a bridge is down its subnet meets the
		# REJECT rule, never an ACCEPT.
		ip link show "$br" >/dev/null 2>&1 || continue
		for a in "${net%.*}".{10..13}; do
			_rc_check "dev $br" "$a"
			_rc_check "dev $br" "$a" from "$pod" iif "$CNI_BRIDGE"
		done
		_rc_check "dev $CNI_BRIDGE" "$pod" from "${net%.*}.13" iif "$br"
	done
	_rc_check "dev $CNI_BRIDGE" "$pod"
	_rc_check "dev $NODE_BRIDGE" "$API_SERVICE_IP"
	_rc_check "local $NODE_IP" "$NODE_IP"
	return "$bad"
}

# ---------------------------------------------------------------------------------------------
# Certificates, tokens, kubeconfigs, configs

# cert NAME CN [O] EXT: a key and a certificate signed by the cluster CA.
cert() {
	local name=$1 cn=$2 org=$3 ext=$4 subj
	[[ -s $PKI/$name.crt && -s $PKI/$name.key ]] && return 0
	subj="/CN=$cn"
	[[ -n $org ]] && subj="/O=$org$subj"
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
	openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	printf '%s\n' "$ext" >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null || die "signing $name failed"
	rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

ensure_pki() {
	install -d -m 0700 "$PKI"
	if [[ ! -s $PKI/ca.crt || ! -s $PKI/ca.key ]]; then
		openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
		openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=ocb-kube-ca" -days 3650 -sha256 \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-out "$PKI/ca.crt" 2>/dev/null || die "creating the CA failed"
	fi
	local server="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
	cert apiserver kube-apiserver "" "$server
subjectAltName=IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
	cert kubelet "system:node:$NODE_NAME" system:nodes "$server
subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client "" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	if [[ ! -s $PKI/sa.key ]]; then
		openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
		openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	fi
	# Static tokens for the standard identities: Node,RBAC authorization without kubeadm.
	if [[ ! -s $PKI/tokens.csv ]]; then
		(
			umask 077
			printf '%s,ocb-admin,ocb-admin,"system:masters"\n' "$(openssl rand -hex 16)"
			printf '%s,system:kube-controller-manager,system:kube-controller-manager\n' "$(openssl rand -hex 16)"
			printf '%s,system:kube-scheduler,system:kube-scheduler\n' "$(openssl rand -hex 16)"
			printf '%s,system:kube-proxy,system:kube-proxy\n' "$(openssl rand -hex 16)"
			printf '%s,system:node:%s,system:node:%s,"system:nodes"\n' "$(openssl rand -hex 16)" "$NODE_NAME" "$NODE_NAME"
		) >"$PKI/tokens.csv.tmp"
		mv "$PKI/tokens.csv.tmp" "$PKI/tokens.csv"
		rm -f "$KC"/*.conf
	fi
	chmod 0600 "$PKI"/*.key "$PKI/tokens.csv"
	install -d -m 0700 "$KC"
	local user file
	for file in admin:ocb-admin controller-manager:system:kube-controller-manager scheduler:system:kube-scheduler \
		proxy:system:kube-proxy "kubelet:system:node:$NODE_NAME"; do
		user=${file#*:} file=${file%%:*}
		[[ -s $KC/$file.conf ]] && continue
		(
			umask 077
			cat >"$KC/$file.conf.tmp" <<-EOF
				apiVersion: v1
				kind: Config
				clusters:
				- name: ocb-kube
				  cluster:
				    server: https://$NODE_IP:$API_PORT
				    certificate-authority: $PKI/ca.crt
				users:
				- name: $user
				  user:
				    token: $(awk -F, -v u="$user" '$2 == u {print $1}' "$PKI/tokens.csv")
				contexts:
				- name: ocb-kube
				  context: {cluster: ocb-kube, user: $user}
				current-context: ocb-kube
			EOF
		)
		mv "$KC/$file.conf.tmp" "$KC/$file.conf"
	done
}

write_configs() {
	install -d -m 0755 "$ETC" "$ETC/cni" "$STATE/containerd" "$STATE/cni/ipam" "$STATE/kubelet" \
		"$STATE/kubelet/volume-plugins" "$LOGS/pods" "$PV_ROOT"
	cat >"$ETC/containerd.toml" <<-EOF
		# hack/kube-node.sh: containerd for the one-node Kubernetes; everything under $STATE.
		version = 2
		root = "$STATE/containerd/root"
		state = "$STATE/containerd/state"
		disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$CTRD_SOCK"
		[debug]
		  level = "warn"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$STATE/containerd/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  # This VM lacks CAP_SYS_RESOURCE: a negative oom_score_adj cannot be written, and
		  # without this every pod fails with "can't get final child's PID from pipe: EOF".
		  restrict_oom_score_adj = true
		  disable_apparmor = true
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        BinaryName = "$(command -v runc)"
		        Root = "$STATE/containerd/runc"
		        SystemdCgroup = false
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$ETC/cni"
		    max_conf_num = 1
	EOF
	cat >"$ETC/cni/10-ocb-kube.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "ocb-kube",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$CNI_BRIDGE",
		      "isGateway": true,
		      "ipMasq": false,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
		        "routes": [{"dst": "0.0.0.0/0"}],
		        "dataDir": "$STATE/cni/ipam"
		      }
		    }
		  ]
		}
	EOF
	# No cluster DNS: pods get a resolver that fails fast (they use ClusterIPs).
	printf '# hack/kube-node.sh: no cluster DNS; fail fast.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$ETC/resolv.conf"
	cat >"$ETC/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		address: $NODE_IP
		port: 10250
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		healthzPort: 10248
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: $PKI/ca.crt}
		authorization: {mode: Webhook}
		tlsCertFile: $PKI/kubelet.crt
		tlsPrivateKeyFile: $PKI/kubelet.key
		# cgroup v1 here; containerd 1.6 lacks the RuntimeConfig call, so the driver is set.
		failCgroupV1: false
		cgroupDriver: cgroupfs
		failSwapOn: false
		containerRuntimeEndpoint: unix://$CTRD_SOCK
		imageServiceEndpoint: unix://$CTRD_SOCK
		podLogsDir: $LOGS/pods
		volumePluginDir: $STATE/kubelet/volume-plugins
		clusterDomain: cluster.local
		resolvConf: $ETC/resolv.conf
		# Imported images cannot be pulled again: never garbage-collect them.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%, imagefs.inodesFree: 1%}
		serializeImagePulls: false
		rotateCertificates: false
		serverTLSBootstrap: false
		protectKernelDefaults: false
		maxPods: 110
	EOF
	cat >"$ETC/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		clientConnection: {kubeconfig: $KC/proxy.conf}
		hostnameOverride: $NODE_NAME
		bindAddress: $NODE_IP
		healthzBindAddress: 127.0.0.1:10256
		metricsBindAddress: 127.0.0.1:10249
		mode: iptables
		clusterCIDR: $POD_CIDR
		nodePortAddresses: ["$NODE_IP/32"]
		iptables: {localhostNodePorts: false, masqueradeAll: false}
		# 0: leave the host's conntrack settings alone.
		conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
	EOF
}

# ---------------------------------------------------------------------------------------------
# Daemons

start_etcd() {
	pid_of etcd >/dev/null && return 0
	install -d -m 0700 "$STATE/etcd"
	spawn etcd "$BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync --log-level warn
	wait_for 30 etcd curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" || { need_running etcd; die "etcd is not healthy after 30 s"; }
}

start_apiserver() {
	pid_of kube-apiserver >/dev/null && return 0
	spawn kube-apiserver "$BIN/kube-apiserver" \
		--advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$API_PORT" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--cert-dir="$PKI/apiserver-certs" --allow-privileged=true --profiling=false
}

start_controllers() {
	if ! pid_of kube-controller-manager >/dev/null; then
		spawn kube-controller-manager "$BIN/kube-controller-manager" \
			--kubeconfig="$KC/controller-manager.conf" \
			--authentication-kubeconfig="$KC/controller-manager.conf" \
			--authorization-kubeconfig="$KC/controller-manager.conf" \
			--bind-address=127.0.0.1 --secure-port=10257 --cert-dir="$PKI/controller-manager" \
			--cluster-cidr="$POD_CIDR" --allocate-node-cidrs=true --node-cidr-mask-size=24 \
			--service-cluster-ip-range="$SERVICE_CIDR" \
			--root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
			--use-service-account-credentials=true \
			--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
			--flex-volume-plugin-dir="$STATE/kubelet/volume-plugins" --leader-elect=false --profiling=false
	fi
	if ! pid_of kube-scheduler >/dev/null; then
		spawn kube-scheduler "$BIN/kube-scheduler" \
			--kubeconfig="$KC/scheduler.conf" \
			--authentication-kubeconfig="$KC/scheduler.conf" --authorization-kubeconfig="$KC/scheduler.conf" \
			--bind-address=127.0.0.1 --secure-port=10259 --cert-dir="$PKI/scheduler" \
			--leader-elect=false --profiling=false
	fi
}

start_containerd() {
	pid_of containerd >/dev/null && return 0
	spawn containerd containerd --config "$ETC/containerd.toml"
	wait_for 30 containerd timeout 5 ctr --address "$CTRD_SOCK" version ||
		{ need_running containerd; die "containerd does not answer on $CTRD_SOCK after 30 s"; }
}

start_kubelet() {
	pid_of kubelet >/dev/null && return 0
	spawn kubelet "$BIN/kubelet" --config="$ETC/kubelet.yaml" --kubeconfig="$KC/kubelet.conf" \
		--root-dir="$STATE/kubelet" --cert-dir="$PKI/kubelet-certs" \
		--node-ip="$NODE_IP" --hostname-override="$NODE_NAME"
}

start_proxy() {
	pid_of kube-proxy >/dev/null && return 0
	spawn kube-proxy "$BIN/kube-proxy" --config="$ETC/kube-proxy.yaml"
}

pvs_settled() { ! kc get pv -l ocb.dev/kube-node=true --no-headers 2>/dev/null | grep -q ' Pending '; }
api_ready() { [[ $(kc get --raw /readyz 2>/dev/null) == ok ]]; }
node_ready() {
	[[ $(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# bootstrap_rbac: what kubeadm would create: the API server may call the kubelet API.
bootstrap_rbac() {
	kc apply -f - >/dev/null <<-EOF
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRoleBinding
		metadata:
		  name: ocb-kube:apiserver-kubelet-client
		roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
		subjects:
		- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}
	EOF
}

# ---------------------------------------------------------------------------------------------
# Images and storage

# image_ref TAR: the name and manifest digest recorded in a hack/ociimage tar's index.json.
image_ref() {
	local idx
	idx=$(tar -xOf "$1" index.json) || return 1
	printf '%s %s\n' \
		"$(sed -n 's/.*"io.containerd.image.name":"\([^"]*\)".*/\1/p' <<<"$idx")" \
		"$(sed -n 's/^{[^[]*\[{"mediaType":"[^"]*","digest":"\(sha256:[0-9a-f]*\)".*/\1/p' <<<"$idx")"
}

# import_image TAR: import unless containerd already has the same name at the same digest.
# image_unpacked NAME: the image's layers are unpacked into the snapshotter.
image_unpacked() {
	[[ $(ctr_ images check "name==$1" 2>/dev/null | awk 'NR > 1 {print $NF}') == true ]]
}

import_image() {
	local ref name digest have
	ref=$(image_ref "$1") || die "$1 is not an OCI image-layout tar"
	name=${ref% *} digest=${ref#* }
	[[ -n $name && -n $digest ]] || die "$1: no io.containerd.image.name or digest in index.json"
	have=$(ctr_ images ls "name==$name" 2>/dev/null | awk 'NR > 1 {print $3}')
	if [[ $have == "$digest" ]] && image_unpacked "$name"; then
		log "Image $name is up to date ($digest)"
		return 0
	fi
	# A failed unpack leaves the image named but not unpacked (seen once: a layer's parent
	# snapshot removed by containerd's garbage collection mid-import): drop that record so
	# it never passes for up to date, and try once more.
	local try
	for try in 1 2; do
		if ctr_ images import "$1" >/dev/null && image_unpacked "$name"; then
			break
		fi
		ctr_ images rm "$name" >/dev/null 2>&1 || true
		((try == 1)) || die "ctr images import $1 failed"
		log "Importing $name failed or left it unpacked; once more"
		sleep 2
	done
	log "Imported $name ($digest)"
	# The CRI plugin names every image also by its ID (sha256:<config>); once our name moved
	# to the new build, that alias alone would keep the old build's layers forever (image GC
	# is off). Remove aliases whose manifest no named image uses any more.
	local ref d named
	while read -r ref d; do
		[[ $ref == sha256:* ]] || continue
		named=$(ctr_ images ls 2>/dev/null | awk -v d="$d" 'NR > 1 && $3 == d && $1 !~ /^sha256:/' | head -1)
		if [[ -z $named ]]; then
			ctr_ images rm "$ref" >/dev/null 2>&1 && log "Removed $ref (the previous build, now unnamed)"
		fi
	done < <(ctr_ images ls 2>/dev/null | awk 'NR > 1 {print $1, $3}')
}

import_cached_images() {
	import_image "$CACHE/image/ocb-pause.tar"
	local t
	for t in "$CACHE"/image/*.tar; do
		[[ -f $t && $t != */ocb-pause.tar ]] || continue
		import_image "$t"
	done
}

# storage: the StorageClass and OCB_KUBE_PVS local PVs (one host directory each). A PV
# whose claim was deleted (Released) is wiped and made Available again, as a real
# cluster's local volume provisioner does.
storage() {
	local i dir pv phase
	{
		cat <<-EOF
			apiVersion: storage.k8s.io/v1
			kind: StorageClass
			metadata:
			  name: $STORAGE_CLASS
			  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
			provisioner: kubernetes.io/no-provisioner
			volumeBindingMode: WaitForFirstConsumer
			reclaimPolicy: Retain
		EOF
		for ((i = 0; i < PVS; i++)); do
			dir=$PV_ROOT/$STORAGE_CLASS-$i
			install -d -m 0775 "$dir"
			cat <<-EOF
				---
				apiVersion: v1
				kind: PersistentVolume
				metadata:
				  name: $STORAGE_CLASS-$i
				  labels: {ocb.dev/kube-node: "true"}
				spec:
				  capacity: {storage: $PV_SIZE}
				  accessModes: [ReadWriteOnce]
				  persistentVolumeReclaimPolicy: Retain
				  storageClassName: $STORAGE_CLASS
				  volumeMode: Filesystem
				  local: {path: $dir}
				  nodeAffinity:
				    required:
				      nodeSelectorTerms:
				      - matchExpressions:
				        - {key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}
			EOF
		done
	} | kc apply -f - >/dev/null || die "applying the StorageClass and PVs failed"
	while read -r pv phase; do
		if [[ $phase == Released && -d $PV_ROOT/$pv ]]; then
			find "$PV_ROOT/$pv" -mindepth 1 -delete
			chown root:root "$PV_ROOT/$pv" && chmod 0775 "$PV_ROOT/$pv" # as new: no fsGroup left
			kc patch pv "$pv" --type json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
			log "Recycled $pv (its claim was deleted): wiped and Available"
		fi
	done < <(kc get pv -l ocb.dev/kube-node=true -o 'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}')
}

# ---------------------------------------------------------------------------------------------
# Commands

daemons_running() {
	local d
	for d in "${DAEMONS[@]}"; do pid_of "$d" >/dev/null || return 1; done
}

cmd_up() {
	install -d -m 0755 "$STATE" "$PIDS" "$LOGS"
	ensure_packages
	ensure_binaries
	if daemons_running && api_ready && node_ready && iptables -w 5 -C FORWARD -m comment --comment hack/kube-node.sh -j OCBK-FORWARD 2>/dev/null; then
		storage
		route_check || die "routes are wrong (see above)"
		log "Already up ($(elapsed) ms): KUBECONFIG=$ADMIN_KC"
		return 0
	fi
	ensure_pause_image
	save_host_state
	network_up
	ensure_pki
	write_configs
	start_etcd
	start_apiserver
	wait_for 60 kube-apiserver api_ready || { need_running kube-apiserver; die "kube-apiserver not ready after 60 s"; }
	log "kube-apiserver ready at $(elapsed) ms"
	bootstrap_rbac
	start_controllers
	start_containerd
	import_cached_images
	start_kubelet
	start_proxy
	wait_for 90 node node_ready || {
		for d in "${DAEMONS[@]}"; do need_running "$d"; done
		die "node $NODE_NAME not Ready after 90 s (logs: $LOGS)"
	}
	storage
	# A new PV is Pending until the PV controller's first pass: wait, so status is settled.
	wait_for 20 pvs-available pvs_settled || log "some PVs are still Pending after 20 s"
	for d in "${DAEMONS[@]}"; do need_running "$d"; done
	route_check || die "routes are wrong (see above)"
	log "Up in $(elapsed) ms: node $NODE_NAME Ready; KUBECONFIG=$ADMIN_KC"
}

# delete_pods: through the API, so that the kubelet tears down each sandbox (CNI DEL,
# volume unmounts) before it stops; bounded, then forced.
delete_pods() {
	api_ready || return 0
	local n
	n=$(kc get pods -A --no-headers 2>/dev/null | wc -l)
	((n > 0)) || return 0
	log "Deleting $n pods through the API"
	kc delete pods --all -A --wait=false >/dev/null 2>&1 || true
	if ! wait_for 60 pods-gone bash -c "[[ -z \$(\"$BIN/kubectl\" --kubeconfig \"$ADMIN_KC\" get pods -A --no-headers 2>/dev/null) ]]"; then
		log "Pods still there after 60 s: forcing"
		kc delete pods --all -A --grace-period=0 --force >/dev/null 2>&1 || true
		sleep 5
	fi
}

# containerd_cleanup: what is left in containerd's k8s.io namespace (sandboxes the kubelet
# had not garbage-collected yet): tasks killed and deleted, so their shims exit, then the
# containers, while containerd is still up.
containerd_cleanup() {
	pid_of containerd >/dev/null || return 0
	local id n=0
	for id in $(ctr_ tasks ls -q 2>/dev/null); do
		ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctr_ tasks ls -q 2>/dev/null); do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			ctr_ tasks delete "$id" >/dev/null 2>&1 && break
			sleep 0.5
		done
	done
	for id in $(ctr_ containers ls -q 2>/dev/null); do
		ctr_ containers delete "$id" >/dev/null 2>&1 && n=$((n + 1))
	done
	((n == 0)) || log "Removed $n containers left in containerd"
}

# shim_pids: containerd 1.6 records no shim PID (a shim daemonizes and reparents to init),
# but each one is started with `-address <our containerd socket>`: the PIDs whose argv has
# exactly that pair are ours. Not a match on a program name.
shim_pids() {
	local d args
	for d in /proc/[0-9]*; do
		args=$(tr '\0' '\n' 2>/dev/null <"$d/cmdline") || continue
		[[ $args == *$'\n-address\n'"$CTRD_SOCK"* ]] && echo "${d#/proc/}"
	done
	return 0
}

# stop_shims: a shim that outlived containerd is stopped by its PID.
stop_shims() {
	local pid
	for pid in $(shim_pids); do
		pid_alive "$pid" || continue
		stop_pid "$pid" "containerd shim" 10
		log "Stopped containerd shim pid $pid (outlived containerd)"
	done
}

cmd_down() {
	local purge=${1:-}
	[[ -d $STATE ]] || {
		log "Nothing to do: no $STATE"
		return 0
	}
	[[ -x $BIN/kubectl ]] || die "no kubectl in $BIN"
	# The controllers would recreate what is deleted: stop them first.
	stop_daemon kube-controller-manager
	stop_daemon kube-scheduler
	delete_pods
	stop_daemon kube-proxy
	if [[ -x $BIN/kube-proxy ]]; then
		timeout 60 "$BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy.log" 2>&1 || log "kube-proxy --cleanup failed (see $LOGS/kube-proxy.log)"
	fi
	stop_daemon kubelet
	containerd_cleanup
	stop_daemon containerd 30
	stop_shims
	stop_daemon kube-apiserver
	stop_daemon etcd
	unmount_under "$STATE" /run/containerd /var/lib/kubelet
	remove_cgroups || log "some cgroups could not be removed (see above)"
	network_down
	restore_sysctls
	remove_host_paths
	if [[ -n $(mounts_under "$STATE") ]]; then
		die "mounts left under $STATE, not wiping it: $(mounts_under "$STATE" | head -5 | tr '\n' ' ')"
	fi
	# The cluster's state goes; the CA, tokens and containerd's images (a cache) stay.
	rm -rf --one-file-system "$STATE/etcd" "$STATE/kubelet" "$STATE/containerd/state" "$STATE/containerd/runc" \
		"$STATE/cni" "$PV_ROOT" "$STATE/deploy"
	if [[ $purge == --purge ]]; then
		rm -rf --one-file-system "$STATE"
		log "Purged $STATE"
	fi
	log "Down in $(elapsed) ms"
}

cmd_status() {
	local d pid rss total=0 bad=0 shims=0
	for d in "${DAEMONS[@]}"; do
		if pid=$(pid_of "$d"); then
			rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
			total=$((total + rss))
			printf '%-24s running  pid %-7s rss %4s MiB\n' "$d" "$pid" "$rss"
		else
			printf '%-24s STOPPED\n' "$d"
			bad=1
		fi
	done
	local nshims=0
	for pid in $(shim_pids); do
		rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null) || continue
		shims=$((shims + rss)) nshims=$((nshims + 1))
	done
	printf '%-24s %s MiB (daemons) + %s MiB (%s containerd shims)\n' "rss total" "$total" "$shims" "$nshims"
	if ((bad == 0)) && api_ready; then
		if node_ready; then
			echo "node                     $NODE_NAME Ready ($NODE_IP, pods $POD_CIDR, services $SERVICE_CIDR)"
		else
			echo "node                     $NODE_NAME NOT Ready"
			bad=1
		fi
		echo "pods                     $(kc get pods -A --no-headers 2>/dev/null | awk '{print $4}' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
		echo "volumes                  $(kc get pv -l ocb.dev/kube-node=true --no-headers 2>/dev/null | awk '{print $5}' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
	else
		echo "api                      not ready"
		bad=1
	fi
	echo "iptables                 $(iptables -w 5 -S 2>/dev/null | grep -c KUBE) KUBE rules/chains (filter), OCBK-FORWARD $(iptables -w 5 -C FORWARD -m comment --comment hack/kube-node.sh -j OCBK-FORWARD 2>/dev/null && echo present || echo MISSING)"
	echo "ip_forward               $(sysctl -n net.ipv4.ip_forward)"
	if route_check; then
		local oc="" net br
		for net in "$LIVE_NET:$LIVE_BRIDGE" "$FILE_NET:$FILE_BRIDGE"; do
			br=${net#*:} net=${net%%:*}
			ip link show "$br" >/dev/null 2>&1 && oc+="${net%.*}.10-13 via $br, "
		done
		echo "routes                   ok: ${oc:-no overcloud up, }(host and pods), pods via $CNI_BRIDGE, services via $NODE_BRIDGE, none via $(uplink)"
	else
		echo "routes                   FAILED"
		bad=1
	fi
	echo "kubeconfig               $ADMIN_KC"
	return "$bad"
}

cmd_env() {
	cat <<-EOF
		export KUBECONFIG=$ADMIN_KC
		export OCB_KUBECTL=$BIN/kubectl
		export OCB_KUBE_DIR=$STATE
		export OCB_KUBE_NODE=$NODE_NAME
		export OCB_KUBE_STORAGE_CLASS=$STORAGE_CLASS
		export OCB_KUBE_PV_ROOT=$PV_ROOT
		export OCB_KUBE_IMAGE=overcloud-backup-operator:dev
		export OCB_KUBE_CONTAINERD=$CTRD_SOCK
	EOF
}

# cmd_deploy IMAGE: kustomize config/$OVERLAY (default, or namespaced: the manager's rules
# bound only in the namespaces it watches) with the image overridden, applied with the
# built kubectl; waits for the manager Deployment to be Ready. The pod template carries the
# image's digest, so a rebuilt image rolls the manager out.
cmd_deploy() {
	local img=${1:-overcloud-backup-operator:dev} kustomize=${KUSTOMIZE:-} full digest tmp overlay=${OVERLAY:-default}
	[[ $overlay == default || $overlay == namespaced ]] || die "OVERLAY=$overlay: want default or namespaced"
	[[ -x $kustomize ]] || die "set KUSTOMIZE to the kustomize binary (make deploy does)"
	api_ready || die "the node is not up (hack/kube-node.sh up)"
	full=$img
	[[ $full == */* ]] || full=docker.io/library/$full
	digest=$(ctr_ images ls "name==$full" 2>/dev/null | awk 'NR > 1 {print $3}')
	[[ -n $digest ]] || die "image $full is not in the node's containerd (make image)"
	tmp=$STATE/deploy
	rm -rf "$tmp"
	install -d "$tmp"
	cp -r "$REPO/config" "$tmp/config"
	(cd "$tmp/config/manager" && "$kustomize" edit set image "controller=$img") || die "kustomize edit failed"
	cat >>"$tmp/config/default/kustomization.yaml" <<-EOF
		# Added by hack/kube-node.sh deploy: roll the manager out when the image changes.
		patches:
		- target: {kind: Deployment, name: controller-manager}
		  patch: |-
		    - op: add
		      path: /spec/template/metadata/annotations/ocb.dev~1image-digest
		      value: "$digest"
	EOF
	"$kustomize" build "$tmp/config/$overlay" >"$tmp/operator.yaml" || die "kustomize build failed"
	if [[ $overlay == namespaced ]]; then
		# The watched namespaces are the tenants': they exist before the install binds the
		# manager's rules in them (here, on this test node, they are made if missing).
		local ns
		for ns in $(grep -o -- '--watch-namespaces=[^" ]*' "$tmp/operator.yaml" | head -1 | cut -d= -f2 | tr , ' '); do
			kc get namespace "$ns" >/dev/null 2>&1 || kc create namespace "$ns" >/dev/null || die "creating namespace $ns"
		done
	fi
	kc apply --server-side --force-conflicts -f "$tmp/operator.yaml" >/dev/null || die "kubectl apply failed"
	if [[ $overlay == namespaced ]]; then
		# apply adds, it never removes: the cluster-wide binding of the default install goes.
		kc delete clusterrolebinding overcloud-backup-manager-rolebinding --ignore-not-found >/dev/null ||
			die "deleting the cluster-wide binding of the default install"
	fi
	log "Applied $(grep -c '^kind:' "$tmp/operator.yaml") objects of config/$overlay (image $img $digest)"
	if ! kc -n "$OPERATOR_NS" rollout status "deploy/$OPERATOR_DEPLOY" --timeout=120s >&2; then
		kc -n "$OPERATOR_NS" get pods -o wide >&2 || true
		kc -n "$OPERATOR_NS" logs "deploy/$OPERATOR_DEPLOY" --tail=20 >&2 || true
		die "the manager Deployment is not Ready after 120 s"
	fi
	log "Deployed in $(elapsed) ms"
}

main() {
	local cmd=${1:-}
	[[ -n $cmd ]] || usage
	shift
	case "$cmd" in
	kubeconfig)
		echo "$ADMIN_KC"
		return 0
		;;
	env)
		cmd_env
		return 0
		;;
	status)
		ensure_root
		cmd_status
		return
		;;
	up | down | storage | import | deploy) ;;
	*) usage ;;
	esac
	ensure_root
	install -d -m 0755 "$(dirname "$STATE")"
	exec 9>"$STATE.lock"
	flock -w 600 9 || die "another hack/kube-node.sh holds $STATE.lock for 10 minutes"
	case "$cmd" in
	up) cmd_up ;;
	down) cmd_down "${1:-}" ;;
	storage)
		api_ready || die "the node is not up"
		storage
		;;
	import)
		(($# > 0)) || die "import needs TAR..."
		if ! pid_of containerd >/dev/null; then
			log "containerd is not running (hack/kube-node.sh up): nothing imported"
			exit 3
		fi
		local t
		for t in "$@"; do import_image "$t"; done
		;;
	deploy) cmd_deploy "${1:-}" ;;
	esac
}

main "$@"
