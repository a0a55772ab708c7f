#!/usr/bin/env bash
# hack/overcloud.sh: a real local 3-controller overcloud on this machine.
#
# Each controller is a network namespace on a host bridge, as a TripleO controller is a host
# on the internal API network. By default (live) each is also its own PID, mount and UTS
# namespace running Corosync and Pacemaker, which run Galera (the galera agent), the database
# VIP (IPaddr2) and HAProxy on every controller, with fencing; clustercheck on :9200 and sshd
# on :22 for the operator (hack/overcloud-live.sh). Every test, the demo and the benchmarks
# use it. OCB_PACEMAKER=file is the lighter variant: no Corosync, crm_mon reads a CIB file
# per controller, HAProxy on the VIP in controller-0. Everything comes from Debian packages
# installed on demand.
#
#   hack/overcloud.sh up | down [--purge] | status | env
#   hack/overcloud.sh pause N | resume N | kill N | start N | isolate N | rejoin N | desync N on|off
#     | standby N | unstandby N | maintenance on|off | cleanup | stop-galera | start-galera
#     | freeze-corosync N | thaw-corosync N | power-off N | power-on N | crm | crm-mon [N]
#     | fencing broken|working | pid N COMM (a daemon's host PID) | vip (the VIP holder)
#   OCB_PACEMAKER=file hack/overcloud.sh up | down | status | env | pause | resume | kill | start
#     | isolate | rejoin | desync (the same) | cib N FILE
#
# Environment: OCB_PACEMAKER (live, the default, or file), OCB_SANDBOX_DIR (state, default
# /tmp/ocb-live, file /tmp/ocb-overcloud), OCB_NET (first three octets, default 10.79.0, file
# 10.77.0), OCB_HAPROXY_INTER/FALL/RISE (check timing, default 2000/5/2), OCB_FORCE_LOOPBACK=1
# (file only: skip namespaces, use 127.0.0.10-13). docs/sandbox.md has the details.
set -euo pipefail
umask 022
# Callers such as `go test` may run without the sbin directories (ip, useradd, visudo, haproxy).
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
# live: Corosync and Pacemaker run the cluster (hack/overcloud-live.sh). file: a second,
# lighter sandbox with its own state, subnet and names (both can run at once).
readonly PACEMAKER="${OCB_PACEMAKER:-live}"
case $PACEMAKER in
file) PREFIX=ocb DEFAULT_STATE=/tmp/ocb-overcloud DEFAULT_NET=10.77.0 ;;
live) PREFIX=ocl DEFAULT_STATE=/tmp/ocb-live DEFAULT_NET=10.79.0 ;;
*)
	echo "overcloud: OCB_PACEMAKER=$PACEMAKER: want file or live" >&2
	exit 2
	;;
esac
readonly PREFIX DEFAULT_STATE DEFAULT_NET
readonly STATE="${OCB_SANDBOX_DIR:-$DEFAULT_STATE}"
readonly BRIDGE=$PREFIX-br0
readonly CLUSTER_NAME=ocb
readonly DB_USER=ocbbackup
readonly TLS_USER=ocbtls
readonly SSH_USER=ocbadmin
readonly STATS_USER=admin
# One drop-in per sandbox (the file and the live one share the user, not the drop-in).
readonly SUDOERS=/etc/sudoers.d/$PREFIX-overcloud
readonly MARIABACKUP=/usr/bin/mariadb-backup
readonly USER_GECOS="ocb-overcloud sandbox"
readonly INTER="${OCB_HAPROXY_INTER:-2000}"
readonly FALL="${OCB_HAPROXY_FALL:-5}"
readonly RISE="${OCB_HAPROXY_RISE:-2}"
readonly NODES=(0 1 2)
PACKAGES=(mariadb-server galera-4 mariadb-client mariadb-backup rsync haproxy
	openssh-server openssh-client pacemaker-cli-utils socat sudo iproute2 procps curl util-linux openssl)
[[ $PACEMAKER == live ]] && PACKAGES+=(pacemaker corosync resource-agents)
readonly PACKAGES
readonly CIB_FIXTURE="$REPO/internal/pacemaker/testdata/cib/bundle-healthy.xml"

LOG_PREFIX=overcloud
# shellcheck source=hack/lib.sh
source "$REPO/hack/lib.sh"
MODE=netns # or loopback; persisted in $STATE/mode once the network exists
NET="${OCB_NET:-$DEFAULT_NET}"
# shellcheck source=hack/overcloud-live.sh
source "$REPO/hack/overcloud-live.sh"
live() { [[ $PACEMAKER == live ]]; }

# ---------------------------------------------------------------------------------------------
# Names and paths

load_mode() {
	if [[ -f $STATE/mode ]]; then
		MODE=$(<"$STATE/mode")
	fi
	if [[ $MODE == loopback ]]; then
		NET=127.0.0
	fi
	[[ $NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "OCB_NET=$NET: want three octets like 10.77.0"
	VIP=$NET.10
	HOST_IP=$NET.1
}

node_name() { echo "controller-$1"; }
node_ns() { echo "$PREFIX-c$1"; }
node_addr() { echo "$NET.$((11 + $1))"; }
node_veth() { echo "$PREFIX-v$1"; } # host side; the namespace side is eth0
node_dir() { echo "$STATE/c$1"; }
node_sock() {
	if live; then
		echo "$STATE/c$1/run-mysqld/mysqld.sock" # /run/mysqld/mysqld.sock on the controller
	else
		echo "$STATE/c$1/mysqld.sock"
	fi
}
check_node() { [[ ${1:-} =~ ^[012]$ ]] || die "node must be 0, 1 or 2, got '${1:-}'"; }

# ns_prefix N: the command prefix that runs something inside controller N.
ns_prefix() {
	if [[ $MODE == netns ]]; then
		printf '%s\n' ip netns exec "$(node_ns "$1")"
	fi
}

# ---------------------------------------------------------------------------------------------
# Processes: every daemon is started by spawn, which records its PID in a pid file. A PID only
# counts as ours while /proc/PID/cmdline still names the state dir (guards against PID reuse).

pid_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

# pid_of PIDFILE: prints the recorded PID if it is alive and ours (lib.sh's pid_from).
pid_of() { pid_from "$1"; }

# spawn PIDFILE LOGFILE NODE|-1 CMD...: start CMD detached (own session, no inherited fds)
# inside controller NODE's namespace, or on the host for -1.
spawn() {
	local pidfile=$1 logfile=$2 n=$3
	shift 3
	local prefix=()
	if [[ $n -ge 0 ]]; then
		mapfile -t prefix < <(ns_prefix "$n")
	fi
	# A background child of a non-interactive shell is no process group leader, so setsid
	# does not fork and $! is the daemon's PID (ip netns exec execs the command too).
	# fd 9 is the flock of this script: a daemon must not inherit it (it would hold the lock).
	setsid "${prefix[@]}" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
	echo $! >"$pidfile"
}

# stop_pidfile PIDFILE WHAT [SECONDS]: SIGCONT+SIGTERM, bounded wait, then SIGKILL.
stop_pidfile() {
	local pidfile=$1 what=$2 secs=${3:-15} pid
	if pid=$(pid_of "$pidfile"); then
		stop_pid "$pid" "$what" "$secs"
		log "Stopped $what (pid $pid)"
	fi
	rm -f "$pidfile"
}

# ---------------------------------------------------------------------------------------------
# Packages, users, secrets

ensure_root() { [[ $EUID -eq 0 ]] || die "run as root (namespaces, bridge, users, sudoers)"; }


gen_password() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }

# write_secret FILE: create a 0600 password file once.
write_secret() {
	[[ -s $1 ]] && return 0
	(
		umask 077
		gen_password >"$1.tmp"
	)
	mv -f "$1.tmp" "$1"
}

ensure_dirs() {
	install -d -m 0755 "$STATE" "$STATE/bin" "$STATE/haproxy" "$STATE/ssh"
	install -d -m 0700 "$STATE/secrets"
	local n d
	for n in "${NODES[@]}"; do
		d=$(node_dir "$n")
		# root:mysql 0775: mariadbd (user mysql) creates its socket, pid file and logs here.
		install -d -m 0775 -o root -g mysql "$d"
		install -d -m 0750 -o mysql -g mysql "$d/data"
		# /tmp on this machine is 0755 root: mysql needs its own tmpdir (InnoDB, SST scripts).
		install -d -m 0750 -o mysql -g mysql "$d/tmp"
	done
}

# ensure_tls: a CA and a server certificate per controller (SAN: its address and name), for
# MariaDB's TLS (clients may use it; the TLS user must); and a second, unrelated CA, for the
# tests of a CA that does not match. Made once; a certificate is made again only when it no
# longer fits: missing, not signed by the CA, not naming the node's current address (the
# loopback fallback, OCB_NET) or expiring within 30 days. Called once the network mode is
# known. Keys are root:mysql 0640 (mariadbd runs as mysql), never 0644 even briefly.
ensure_tls() {
	local t=$STATE/tls ca n name addr
	install -d -m 0750 -o root -g mysql "$t"
	for ca in ca other-ca; do
		if [[ -s $t/$ca.crt && -s $t/$ca.key ]] && openssl x509 -in "$t/$ca.crt" -noout -checkend 2592000 >/dev/null 2>&1; then
			continue
		fi
		(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/$ca.key" -out "$t/$ca.crt" -days 3650 \
			-subj "/CN=ocb sandbox $ca" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
			>/dev/null 2>&1) || die "openssl: making the CA $t/$ca.crt"
		log "Made the CA $t/$ca.crt"
	done
	for n in "${NODES[@]}"; do
		name=$(node_name "$n")
		addr=$(node_addr "$n")
		if [[ -s $t/server-$n.crt && -s $t/server-$n.key ]] &&
			openssl verify -CAfile "$t/ca.crt" "$t/server-$n.crt" >/dev/null 2>&1 &&
			openssl x509 -in "$t/server-$n.crt" -noout -checkip "$addr" 2>/dev/null | grep -q 'does match' &&
			openssl x509 -in "$t/server-$n.crt" -noout -checkend 2592000 >/dev/null 2>&1; then
			continue
		fi
		(umask 077 && openssl req -newkey rsa:2048 -nodes -keyout "$t/server-$n.key" -out "$t/server-$n.csr" \
			-subj "/CN=$name" >/dev/null 2>&1) || die "openssl: a key for $name"
		openssl x509 -req -in "$t/server-$n.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
			-out "$t/server-$n.crt" -days 3650 -extfile <(printf '%s\n' "subjectAltName=IP:$addr,DNS:$name" \
				basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment extendedKeyUsage=serverAuth) \
			>/dev/null 2>&1 || die "openssl: signing the certificate of $name"
		rm -f "$t/server-$n.csr"
		log "Made the TLS certificate of $name ($addr, $name): $t/server-$n.crt"
	done
	chown root:mysql "$t"/*.key "$t"/*.crt
	chmod 0640 "$t"/*.key
	chmod 0644 "$t"/*.crt
}

ensure_secrets() {
	write_secret "$STATE/secrets/db-password"
	write_secret "$STATE/secrets/clustercheck-password"
	write_secret "$STATE/secrets/haproxy-stats-password"
	if [[ ! -s $STATE/secrets/clustercheck ]]; then
		(
			umask 077
			printf 'MYSQL_USERNAME="clustercheck"\nMYSQL_PASSWORD="%s"\nMYSQL_HOST="localhost"\n' \
				"$(<"$STATE/secrets/clustercheck-password")" >"$STATE/secrets/clustercheck"
		)
	fi
	if [[ ! -s $STATE/secrets/id_ed25519 ]]; then
		rm -f "$STATE/secrets/id_ed25519" "$STATE/secrets/id_ed25519.pub"
		ssh-keygen -q -t ed25519 -N '' -C "$SSH_USER@ocb-overcloud" -f "$STATE/secrets/id_ed25519"
	fi
	chmod 0600 "$STATE/secrets/id_ed25519"
	install -m 0644 "$STATE/secrets/id_ed25519.pub" "$STATE/ssh/authorized_keys"
	local n d
	for n in "${NODES[@]}"; do
		d=$(node_dir "$n")
		if [[ ! -s $d/ssh_host_ed25519_key ]]; then
			rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
			ssh-keygen -q -t ed25519 -N '' -C "$(node_name "$n")" -f "$d/ssh_host_ed25519_key"
		fi
	done
}

# write_known_hosts: after network_up, which fixes the addresses (namespaces or loopback).
write_known_hosts() {
	local kh n
	kh=$(for n in "${NODES[@]}"; do
		printf '%s %s\n' "$(node_addr "$n")" "$(cut -d' ' -f1,2 "$(node_dir "$n")/ssh_host_ed25519_key.pub")"
	done)
	(
		umask 077
		printf '%s\n' "$kh" >"$STATE/secrets/known_hosts.tmp"
	)
	mv -f "$STATE/secrets/known_hosts.tmp" "$STATE/secrets/known_hosts"
}

ensure_ssh_user() {
	if ! id "$SSH_USER" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/bash --comment "$USER_GECOS" "$SSH_USER" ||
			die "useradd $SSH_USER failed"
		log "Created user $SSH_USER"
	fi
	# useradd leaves '!' (locked), which sshd without PAM refuses; '*' = no password, not locked.
	if [[ $(getent shadow "$SSH_USER" | cut -d: -f2) == '!'* ]]; then
		usermod -p '*' "$SSH_USER"
	fi
	[[ -x $MARIABACKUP ]] || die "$MARIABACKUP missing (package mariadb-backup)"
	local tmp data=$LIVE_LOCAL/data stamp
	# The stamp of a kept-aside datadir (restoreplan.StampLayout, 20261206T031500Z): a
	# pattern of fixed digits, not '*', which sudo would let match spaces and so more words.
	stamp='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z'
	tmp=$(mktemp)
	cat >"$tmp" <<-EOF
		# hack/overcloud.sh: ocbadmin runs crm_mon (against the controller's CIB copy named by
		# CIB_file, which each sandbox sshd sets) and socat (HAProxy stats socket) as root, and
		# mariadb-backup exactly as the agent's default mariabackupCommand runs it (the agent
		# gives the credentials on stdin as /dev/stdin; root is needed to read the datadir),
		# and as it ran before --no-lock (a template without it: backups with no digests).
		Defaults:$SSH_USER env_keep += "CIB_file"
		Defaults:$SSH_USER !requiretty
		Defaults:$SSH_USER secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		$SSH_USER ALL=(root) NOPASSWD: /usr/sbin/crm_mon, /usr/bin/socat
		$SSH_USER ALL=(root) NOPASSWD: $MARIABACKUP --defaults-extra-file\=/dev/stdin --backup --galera-info --no-lock --stream\=xbstream
		$SSH_USER ALL=(root) NOPASSWD: $MARIABACKUP --defaults-extra-file\=/dev/stdin --backup --galera-info --stream\=xbstream
		# agent restore-cluster (internal/restoreplan cluster.go: the exact argv it runs) on the
		# live sandbox's galera-clone and datadir: galera stopped and started through Pacemaker,
		# the datadir kept aside (its stamp is the only word that varies), an empty one owned as
		# the kept one, the xbstream extracted and prepared, grastate.dat written.
		$SSH_USER ALL=(root) NOPASSWD: /usr/sbin/crm_resource --resource galera-clone --meta --set-parameter target-role --parameter-value Stopped
		$SSH_USER ALL=(root) NOPASSWD: /usr/sbin/crm_resource --resource galera-clone --meta --set-parameter target-role --parameter-value Started
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/mv -T -- $data $data.before-restore-$stamp
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/mkdir -m 0750 -- $data
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/chown -R --reference\=$data.before-restore-$stamp -- $data
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/mbstream -x -C $data
		$SSH_USER ALL=(root) NOPASSWD: $MARIABACKUP --prepare --target-dir\=$data
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/tee -- $data/grastate.dat
		# A logical backup restored whole: a new server initialised in the empty datadir, and
		# the backup's SQL loaded as root over the node's socket (the new server's only account).
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/mariadb-install-db --datadir\=$data --user\=mysql --skip-test-db
		$SSH_USER ALL=(root) NOPASSWD: /usr/bin/mariadb --user\=root --binary-mode --default-character-set\=utf8mb4 --batch
	EOF
	visudo -cqf "$tmp" >/dev/null || {
		rm -f "$tmp"
		die "generated sudoers drop-in does not validate (visudo -cf)"
	}
	if ! cmp -s "$tmp" "$SUDOERS"; then
		install -m 0440 "$tmp" "$SUDOERS"
	fi
	rm -f "$tmp"
}

ensure_clustercheck_binary() {
	local bin=$STATE/bin/clustercheck src=$REPO/hack/clustercheck/main.go
	if [[ -x $bin && $bin -nt $src ]]; then
		return 0
	fi
	command -v go >/dev/null || die "go not in PATH: needed once to build $src"
	log "Building clustercheck"
	(cd "$REPO" && go build -o "$bin.tmp" ./hack/clustercheck) || die "go build ./hack/clustercheck failed"
	mv -f "$bin.tmp" "$bin"
}

# ---------------------------------------------------------------------------------------------
# Network

# overlap_check: refuse to create anything when another route or address covers our subnet.
overlap_check() {
	local a line
	if ip -o -4 addr show | awk '{print $2, $4}' | grep -v "^$BRIDGE " | grep -qE " ${NET//./\\.}\.[0-9]+/"; then
		die "an interface other than $BRIDGE already has an address in $NET.0/24: $(ip -o -4 addr show | grep -F " $NET." | head -3 | tr '\n' ' ') (set OCB_NET)"
	fi
	for a in "$HOST_IP" "$VIP" "$(node_addr 0)" "$(node_addr 1)" "$(node_addr 2)"; do
		while read -r line; do
			[[ -z $line || $line == default* || $line == *" dev $BRIDGE "* || $line == *" dev $BRIDGE" ]] && continue
			die "route '$line' already covers $a (ip route get $a: $(ip route get "$a" | head -1)); refusing to start, set OCB_NET"
		done < <(ip -4 route show table all match "$a" 2>/dev/null | grep -v '^broadcast\|^local' || true)
	done
}

route_check() {
	local a got want=$BRIDGE bad=0
	[[ $MODE == loopback ]] && want=lo
	for a in "$VIP" "$(node_addr 0)" "$(node_addr 1)" "$(node_addr 2)"; do
		got=$(ip route get "$a" 2>&1 | head -1)
		if [[ $got != *" dev $want "* ]]; then
			log "ROUTE CHECK FAILED: ip route get $a -> '$got' (want dev $want)"
			bad=1
		fi
	done
	return "$bad"
}

network_up() {
	if live && [[ ${OCB_FORCE_LOOPBACK:-} == 1 || $MODE == loopback ]]; then
		die "the live Pacemaker sandbox needs network namespaces (no loopback fallback)"
	fi
	if [[ ${OCB_FORCE_LOOPBACK:-} == 1 && ! -d /run/netns/$(node_ns 0) ]]; then
		loopback_fallback "OCB_FORCE_LOOPBACK=1"
		return 0
	fi
	if [[ $MODE == loopback ]]; then
		return 0
	fi
	local created=0 n ns addr veth
	# `ip netns add` creates /run/netns as a shared self-bind mount; `down` undoes that if we
	# were the first (containerd or others may use it later).
	[[ -d /run/netns ]] || touch "$STATE/.made-run-netns"
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		overlap_check
		if ! ip link add "$BRIDGE" type bridge 2>/dev/null; then
			loopback_fallback "cannot create bridge $BRIDGE: $(ip link add "$BRIDGE" type bridge 2>&1)"
			return 0
		fi
		created=1
	fi
	ip addr replace "$HOST_IP/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	for n in "${NODES[@]}"; do
		ns=$(node_ns "$n")
		addr=$(node_addr "$n")
		veth=$(node_veth "$n")
		if [[ ! -e /run/netns/$ns ]]; then
			if ! ip netns add "$ns" 2>/dev/null; then
				local why
				why=$(ip netns add "$ns" 2>&1 || true)
				network_down
				loopback_fallback "cannot create network namespace $ns: $why"
				return 0
			fi
			created=1
		fi
		if ! ip link show "$veth" >/dev/null 2>&1; then
			ip -n "$ns" link del eth0 2>/dev/null || true
			ip link add "$veth" type veth peer name eth0 netns "$ns" || die "cannot create veth $veth"
			created=1
		fi
		ip link set "$veth" master "$BRIDGE"
		ip -n "$ns" link set lo up
		ip -n "$ns" addr replace "$addr/24" dev eth0
		if ((n == 0)) && ! live; then
			# The DB VIP, where Pacemaker's IPaddr2 puts it: an extra /32 on the holder.
			ip -n "$ns" addr replace "$VIP/32" dev eth0
		fi
		ip -n "$ns" link set eth0 up
		# `isolate` downs the host side; `up` does not undo a partition made on purpose.
		if [[ ! -e $STATE/isolated-$n ]]; then
			ip link set "$veth" up
		fi
		ip -n "$ns" route replace default via "$HOST_IP" dev eth0
		write_netns_etc "$n"
	done
	echo netns >"$STATE/mode"
	((created)) && log "Network: bridge $BRIDGE $HOST_IP/24, namespaces $(node_ns 0)..2 at $(node_addr 0)-.$((11 + 2)), VIP $VIP$(live || echo " in $(node_ns 0)")"
	route_check || die "routes to the sandbox addresses do not go through $BRIDGE (see above)"
}

# write_netns_etc N: /etc/netns/<ns>/{hosts,resolv.conf}, which `ip netns exec` bind-mounts over
# /etc/hosts and /etc/resolv.conf. Without them every reverse lookup (the rsync daemon of an SST
# does one per connection) goes to the host's nameserver, which the namespace cannot reach: a
# 10 s timeout per rsync step, 85 s per SST instead of a few.
write_netns_etc() {
	local n=$1 d m
	d=/etc/netns/$(node_ns "$n")
	[[ -d /etc/netns ]] || touch "$STATE/.made-etc-netns"
	install -d -m 0755 "$d"
	{
		printf '127.0.0.1 localhost %s\n' "$(hostname)"
		printf '%s overcloud.internalapi.localdomain\n' "$VIP"
		for m in "${NODES[@]}"; do
			printf '%s %s.internalapi.localdomain %s\n' "$(node_addr "$m")" "$(node_name "$m")" "$(node_name "$m")"
		done
	} >"$d/hosts"
	printf '# hack/overcloud.sh: no nameserver reachable from the sandbox; fail fast.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$d/resolv.conf"
	chmod 0644 "$d/hosts" "$d/resolv.conf"
}

loopback_fallback() {
	log "FALLBACK to loopback 127.0.0.10-13 without namespaces: $1"
	log "  (isolate/rejoin are unavailable; every daemon runs in the host network namespace)"
	MODE=loopback
	echo loopback >"$STATE/mode"
	load_mode
}

network_down() {
	local n ns
	for n in "${NODES[@]}"; do
		ns=$(node_ns "$n")
		if [[ -e /run/netns/$ns ]]; then
			ip netns del "$ns" || log "ip netns del $ns failed"
		fi
		if ip link show "$(node_veth "$n")" >/dev/null 2>&1; then
			ip link del "$(node_veth "$n")" 2>/dev/null || true
		fi
		rm -f "$STATE/isolated-$n"
		rm -rf "/etc/netns/$(node_ns "$n")"
	done
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link del "$BRIDGE" || log "ip link del $BRIDGE failed"
	fi
	if [[ -f $STATE/.made-run-netns ]]; then
		if [[ -d /run/netns && -z $(ls -A /run/netns) ]]; then
			while mountpoint -q /run/netns; do umount /run/netns || break; done
			rmdir /run/netns 2>/dev/null || true
		fi
		rm -f "$STATE/.made-run-netns"
	fi
	if [[ -f $STATE/.made-etc-netns ]]; then
		rmdir /etc/netns 2>/dev/null || true
		rm -f "$STATE/.made-etc-netns"
	fi
}

# ---------------------------------------------------------------------------------------------
# Galera

write_mycnf() {
	local n=$1 d addr a0 a1 a2
	d=$(node_dir "$n")
	addr=$(node_addr "$n")
	a0=$(node_addr 0) a1=$(node_addr 1) a2=$(node_addr 2)
	cat >"$d/my.cnf.tmp" <<-EOF
		# Generated by hack/overcloud.sh for $(node_name "$n").
		[mysqld]
		user=mysql
		datadir=$d/data
		socket=$(node_sock "$n")
		pid-file=$d/mysqld.pid
		log-error=$d/mysqld.log
		tmpdir=$d/tmp
		bind-address=$addr
		port=3306
		skip-name-resolve=ON
		max_connections=256
		performance_schema=OFF
		binlog_format=ROW
		default_storage_engine=InnoDB
		innodb_autoinc_lock_mode=2
		innodb_buffer_pool_size=128M
		innodb_log_file_size=48M
		innodb_flush_log_at_trx_commit=2
		wsrep_on=ON
		wsrep_provider=/usr/lib/galera/libgalera_smm.so
		wsrep_cluster_name=$CLUSTER_NAME
		wsrep_cluster_address=gcomm://$a0,$a1,$a2
		wsrep_node_name=$(node_name "$n")
		wsrep_node_address=$addr
		wsrep_node_incoming_address=$addr:3306
		wsrep_sst_method=rsync
		wsrep_sst_receive_address=$addr:4444
		wsrep_provider_options="gmcast.listen_addr=tcp://$addr:4567;ist.recv_addr=$addr:4568;gcache.size=128M"
		wsrep_slave_threads=2
		# TLS for clients (Galera's own replication stays plain): clients may use it, the
		# TLS user ($TLS_USER) must.
		ssl_ca=$STATE/tls/ca.crt
		ssl_cert=$STATE/tls/server-$n.crt
		ssl_key=$STATE/tls/server-$n.key
		[sst]
		# The rsync SST stays plain too. wsrep_sst_rsync takes the [mysqld] ssl_* above as
		# its own and, since MariaDB 10.11.19 (Debian 1:10.11.19-0+deb12u1), aborts without
		# stunnel rather than copying unencrypted: a joiner then never starts (measured on a
		# fresh machine, 2026-12-06). The bridge is ours and carries only test data.
		ssl-mode=DISABLED
	EOF
	chmod 0644 "$d/my.cnf.tmp"
	mv -f "$d/my.cnf.tmp" "$d/my.cnf"
}

mysqld_pid() {
	if live; then
		# Its pid file holds the PID in the controller's PID namespace: look it up instead.
		local p
		p=$(live_pid_in "$1" mariadbd | head -1)
		[[ -n $p ]] && echo "$p"
		return
	fi
	pid_of "$(node_dir "$1")/mysqld.pid"
}

# sql N: run SQL from stdin as root over node N's unix socket (unix_socket auth), bounded.
sql() {
	timeout "${SQL_TIMEOUT:-5}" mariadb --no-defaults --protocol=socket -S "$(node_sock "$1")" -uroot \
		--connect-timeout=2 -N -B 2>&1
}

# wsrep N: prints "local_state state_comment cluster_size cluster_status", or fails.
wsrep() {
	local out
	out=$(SQL_TIMEOUT=3 sql "$1" <<<"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_local_state_comment','wsrep_cluster_size','wsrep_cluster_status')") || return 1
	awk '{v[$1]=$2} END {printf "%s %s %s %s\n", v["wsrep_local_state"], v["wsrep_local_state_comment"], v["wsrep_cluster_size"], v["wsrep_cluster_status"]}' <<<"$out"
}

grastate_seqno() {
	local f
	f="$(node_dir "$1")/data/grastate.dat"
	[[ -f $f ]] || {
		echo none
		return 0
	}
	awk '$1=="seqno:" {print $2}' "$f"
}

# recover_position N: mariadbd --wsrep-recover after a crash; prints uuid:seqno or nothing.
recover_position() {
	local n=$1 d rlog pos
	d=$(node_dir "$n")
	rlog=$d/wsrep-recover.log
	: >"$rlog"
	chown mysql:mysql "$rlog"
	local prefix=()
	mapfile -t prefix < <(ns_prefix "$n")
	TMPDIR=$d/tmp timeout 120 "${prefix[@]}" /usr/sbin/mariadbd --defaults-file="$d/my.cnf" --user=mysql \
		--wsrep-recover --log-error="$rlog" >/dev/null 2>&1 || log "mariadbd --wsrep-recover on $(node_name "$n") exited non-zero (see $rlog)"
	pos=$(sed -n 's/.*WSREP: Recovered position: *\([^ ]*\).*/\1/p' "$rlog" | tail -1)
	if [[ -n $pos && ${pos##*:} != -1 ]]; then
		echo "$pos"
	fi
}

# start_mysqld N new|join: starts mariadbd (after a crash: wsrep-recover first, so the node
# rejoins by IST from its recovered position instead of a full SST).
start_mysqld() {
	local n=$1 how=$2 d args=() pos
	d=$(node_dir "$n")
	write_mycnf "$n"
	if [[ ! -d $d/data/mysql ]] && [[ $how == new ]]; then
		log "Initialising the datadir of $(node_name "$n")"
		TMPDIR=$d/tmp mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" \
			--auth-root-authentication-method=socket --skip-test-db >"$d/install-db.log" 2>&1 ||
			die "mariadb-install-db failed, see $d/install-db.log"
	fi
	args=(/usr/sbin/mariadbd --defaults-file="$d/my.cnf" --user=mysql)
	if [[ -d $d/data/mysql && $(grastate_seqno "$n") == -1 ]]; then
		pos=$(recover_position "$n")
		if [[ -n $pos ]]; then
			log "$(node_name "$n"): recovered wsrep position $pos"
			args+=(--wsrep-start-position="$pos")
		fi
	fi
	if [[ $how == new ]]; then
		if [[ -f $d/data/grastate.dat ]]; then
			sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$d/data/grastate.dat"
		fi
		args+=(--wsrep-new-cluster)
	fi
	touch "$d/mysqld.log"
	chown mysql:mysql "$d/mysqld.log"
	chmod 0644 "$d/mysqld.log"
	LOG_OFFSET[n]=$(stat -c %s "$d/mysqld.log")
	TMPDIR=$d/tmp spawn "$d/mysqld.pid" "$d/mysqld.log" "$n" "${args[@]}"
	# mariadbd (user mysql) rewrites the same file with the same PID once it is up.
	chown mysql:mysql "$d/mysqld.pid"
	log "Started mariadbd on $(node_name "$n") (pid $(<"$d/mysqld.pid"), ${how/new/bootstrap})"
}
declare -a LOG_OFFSET=()

# wait_synced N SECONDS
wait_synced() {
	local n=$1 secs=$2 i w pid
	for ((i = 0; i < secs * 2; i++)); do
		pid=$(mysqld_pid "$n") || {
			tail -25 "$(node_dir "$n")/mysqld.log" >&2
			die "mariadbd on $(node_name "$n") died while starting (log above: $(node_dir "$n")/mysqld.log)"
		}
		if w=$(wsrep "$n") && [[ ${w%% *} == 4 ]]; then
			return 0
		fi
		sleep 0.5
	done
	die "$(node_name "$n") not Synced after ${secs}s (wsrep: ${w:-no answer}); see $(node_dir "$n")/mysqld.log"
}

# transfer_kind N: IST or SST, from the joiner's log since it was started.
transfer_kind() {
	local f
	f="$(node_dir "$1")/mysqld.log"
	local part
	part=$(tail -c +"$((${LOG_OFFSET[$1]:-0} + 1))" "$f")
	# Both kinds log "SST received"; the rsync script says which one it did.
	if grep -q 'rsync SST completed on joiner' <<<"$part"; then
		echo "SST (full copy)"
	elif grep -q 'rsync IST completed on joiner\|IST received' <<<"$part"; then
		echo "IST ($(grep -o 'Receiving IST: [0-9]* writesets' <<<"$part" | tail -1 | grep -o '[0-9]* writesets' || echo '0 writesets'))"
	else
		echo "none (already in sync)"
	fi
}

# pick_bootstrap: the node with the highest committed seqno (lowest index on ties).
pick_bootstrap() {
	local n best=0 bestseq=-2 s pos
	for n in "${NODES[@]}"; do
		s=$(grastate_seqno "$n")
		[[ $s == none ]] && continue
		if [[ $s == -1 && -d $(node_dir "$n")/data/mysql ]]; then
			pos=$(recover_position "$n")
			s=${pos##*:}
			[[ -z $s ]] && s=-1
		fi
		if ((s > bestseq)); then
			best=$n bestseq=$s
		fi
	done
	echo "$best"
}

# The backup user's privileges: mariadb-dump (SELECT, SHOW VIEW, EVENT, TRIGGER, LOCK TABLES),
# mariadb-backup 10.11 (RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR: it warns
# about each one missing) and the desync guard (SUPER: SET GLOBAL wsrep_desync).
readonly DB_GRANTS="RELOAD, PROCESS, LOCK TABLES, SELECT, SHOW VIEW, EVENT, TRIGGER, BINLOG MONITOR, SLAVE MONITOR, SUPER"

provision_db() {
	local n=$1 dbpw ccpw
	[[ -f $STATE/.provisioned ]] && return 0
	dbpw=$(<"$STATE/secrets/db-password")
	ccpw=$(<"$STATE/secrets/clustercheck-password")
	# Fed on stdin, so passwords never show in a process list. mariadb-install-db made
	# anonymous accounts for localhost and the host name it ran under: the machine's, or
	# a live controller's own (its UTS namespace). They go, as TripleO's account security
	# removes them: under skip-name-resolve the server ignores an account named by host
	# name, and mariadb-dump --system=users then fails on it (SHOW CREATE USER: 1133).
	sql "$n" >/dev/null <<-EOF || die "creating users and the nova test database on $(node_name "$n") failed"
		DROP USER IF EXISTS ''@'localhost';
		DROP USER IF EXISTS ''@'$(hostname)';
		DROP USER IF EXISTS ''@'$(node_name 0)', ''@'$(node_name 1)', ''@'$(node_name 2)';
		CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$dbpw';
		ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$dbpw';
		GRANT $DB_GRANTS ON *.* TO '$DB_USER'@'%';
		CREATE USER IF NOT EXISTS '$TLS_USER'@'%' IDENTIFIED BY '$dbpw' REQUIRE SSL;
		GRANT $DB_GRANTS ON *.* TO '$TLS_USER'@'%';
		CREATE USER IF NOT EXISTS 'clustercheck'@'localhost' IDENTIFIED BY '$ccpw';
		ALTER USER 'clustercheck'@'localhost' IDENTIFIED BY '$ccpw';
		GRANT PROCESS ON *.* TO 'clustercheck'@'localhost';
		CREATE DATABASE IF NOT EXISTS nova;
		CREATE TABLE IF NOT EXISTS nova.instances (
		  id INT NOT NULL PRIMARY KEY,
		  uuid CHAR(36) NOT NULL,
		  hostname VARCHAR(255) NOT NULL,
		  vm_state VARCHAR(32) NOT NULL,
		  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
		) ENGINE=InnoDB;
		INSERT IGNORE INTO nova.instances (id, uuid, hostname, vm_state) VALUES
		  (1, UUID(), 'vm-web-1', 'active'),
		  (2, UUID(), 'vm-web-2', 'active'),
		  (3, UUID(), 'vm-db-1', 'stopped');
	EOF
	touch "$STATE/.provisioned"
	log "Created users root (socket), $DB_USER, clustercheck and database nova"
}

# is_primary N: node N's mariadbd answers and is part of a Primary component.
is_primary() {
	local w
	w=$(wsrep "$1" 2>/dev/null) || return 1
	[[ ${w##* } == Primary ]]
}

galera_up() {
	local n primary=() stray=() missing=() boot
	for n in "${NODES[@]}"; do
		if ! mysqld_pid "$n" >/dev/null; then
			missing+=("$n")
		elif is_primary "$n"; then
			primary+=("$n")
		else
			stray+=("$n")
		fi
	done
	if ((${#primary[@]} == 0)); then
		# No Primary component (cold start, or every node crashed or lost quorum): stop the
		# leftovers, then bootstrap the most advanced node and join the others to it.
		# A node waiting for a Primary to join ignores SIGTERM for minutes; it has nothing to
		# commit, so SIGKILL after 10 s is safe (its position is recovered below).
		local pids=() pid
		for n in "${stray[@]}"; do
			pid=$(mysqld_pid "$n") || continue
			log "$(node_name "$n") (pid $pid) runs outside any Primary component: stopping it for a clean bootstrap"
			kill -CONT "$pid" 2>/dev/null || true
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		done
		for pid in "${pids[@]}"; do
			wait_gone "$pid" 10 && continue
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 10 || die "mariadbd pid $pid survives SIGKILL"
		done
		boot=$(pick_bootstrap)
		start_mysqld "$boot" new
		wait_synced "$boot" 120
		provision_db "$boot"
		missing=()
		for n in "${NODES[@]}"; do ((n == boot)) || missing+=("$n"); done
	fi
	# Nodes that run but are not Primary while a Primary exists (isolated, paused, rejoining)
	# are left alone.
	for n in "${missing[@]}"; do
		start_mysqld "$n" join
		wait_synced "$n" 180
		log "$(node_name "$n") Synced, state transfer: $(transfer_kind "$n")"
	done
	if [[ ! -f $STATE/.provisioned ]]; then
		for n in "${NODES[@]}"; do
			if [[ $(wsrep "$n" 2>/dev/null) == 4* ]]; then
				provision_db "$n"
				break
			fi
		done
	fi
	upgrade_grants
}

# upgrade_grants: a sandbox provisioned before a privilege joined DB_GRANTS gets it (one
# SHOW GRANTS per `up`; the GRANT only when something is missing, replicated by Galera).
upgrade_grants() {
	local n grants p privs lacking=""
	[[ -f $STATE/.provisioned ]] || return 0
	for n in "${NODES[@]}"; do
		[[ $(wsrep "$n" 2>/dev/null) == 4* ]] || continue
		grants=$(sql "$n" <<<"SHOW GRANTS FOR '$DB_USER'@'%'") || return 0
		IFS=, read -ra privs <<<"$DB_GRANTS"
		for p in "${privs[@]}"; do
			p=${p# }
			[[ $grants == *"$p"* ]] || lacking+=${lacking:+, }$p
		done
		if [[ -n $lacking ]]; then
			sql "$n" <<<"GRANT $lacking ON *.* TO '$DB_USER'@'%'" >/dev/null ||
				die "granting $lacking to $DB_USER on $(node_name "$n") failed"
			log "Granted $lacking to $DB_USER"
		fi
		# A sandbox provisioned before TLS gets the TLS user.
		sql "$n" >/dev/null <<-EOF || die "creating $TLS_USER on $(node_name "$n") failed"
			CREATE USER IF NOT EXISTS '$TLS_USER'@'%' IDENTIFIED BY '$(<"$STATE/secrets/db-password")' REQUIRE SSL;
			GRANT $DB_GRANTS ON *.* TO '$TLS_USER'@'%';
		EOF
		return 0
	done
}

stop_galera() {
	local n pid pids=()
	# Stop 2 and 1 together, 0 last: the last node to leave gets safe_to_bootstrap: 1.
	for n in 2 1; do
		if pid=$(mysqld_pid "$n"); then
			kill -CONT "$pid" 2>/dev/null || true
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	for pid in "${pids[@]}"; do
		if ! wait_gone "$pid" 60; then
			log "mariadbd pid $pid ignored SIGTERM for 60s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 10 || true
		fi
	done
	((${#pids[@]})) && log "Stopped mariadbd on controller-2/1 (pids ${pids[*]})"
	stop_pidfile "$(node_dir 0)/mysqld.pid" "mariadbd on controller-0" 60
	for n in "${NODES[@]}"; do rm -f "$(node_dir "$n")/mysqld.pid"; done
}

# ---------------------------------------------------------------------------------------------
# clustercheck, sshd, HAProxy, CIB

clustercheck_up() {
	local n=$1 d
	local pid
	d=$(node_dir "$n")
	if pid=$(pid_of "$d/clustercheck.pid"); then
		# A rebuilt binary replaced the one this process runs: restart it.
		[[ $(readlink "/proc/$pid/exe") == *' (deleted)' ]] || return 0
		stop_pidfile "$d/clustercheck.pid" "clustercheck on $(node_name "$n") (binary rebuilt)" 5
	fi
	spawn "$d/clustercheck.pid" "$d/clustercheck.log" "$n" "$STATE/bin/clustercheck" \
		-listen "$(node_addr "$n"):9200" -socket "$(node_sock "$n")" \
		-credentials "$STATE/secrets/clustercheck" -timeout 1500ms
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$1:9200/" 2>/dev/null || true; }

write_sshd_config() {
	local n=$1 d
	d=$(node_dir "$n")
	cat >"$d/sshd_config" <<-EOF
		# Generated by hack/overcloud.sh for $(node_name "$n").
		ListenAddress $(node_addr "$n"):22
		HostKey $d/ssh_host_ed25519_key
		PidFile $(live && echo none || echo "$d/sshd.pid")
		AuthorizedKeysFile $STATE/ssh/authorized_keys
		# Keys and configs live under /tmp: skip the ownership checks of the real /etc/ssh.
		StrictModes no
		UsePAM no
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PubkeyAuthentication yes
		PermitRootLogin no
		AllowUsers $SSH_USER
		X11Forwarding no
		AllowTcpForwarding no
		PrintMotd no
	EOF
	if ! live; then
		printf '%s\n' "# crm_mon in this session reads this controller's CIB copy (sudo keeps CIB_file)." \
			"SetEnv CIB_file=$d/cib.xml" >>"$d/sshd_config"
	fi
	ensure_run_sshd
	/usr/sbin/sshd -t -f "$d/sshd_config" || die "sshd -t rejects $d/sshd_config"
}

# ensure_run_sshd makes sshd's privilege separation directory, which `sshd -t` and the file
# sandbox's sshd need on the host (a live controller has its own, in its private /run).
# Only the file sandbox marks it for removal at `down`: the live sandbox needs it for the
# check alone, and removing it under the file sandbox's running sshd would break its logins.
ensure_run_sshd() {
	[[ -d /run/sshd ]] && return 0
	mkdir -p /run/sshd
	chmod 0755 /run/sshd
	live || touch "$STATE/.made-run-sshd"
}

sshd_up() {
	local n=$1 d
	d=$(node_dir "$n")
	pid_of "$d/sshd.pid" >/dev/null && return 0
	write_sshd_config "$n"
	spawn "$d/sshd.pid" "$d/sshd.log" "$n" /usr/sbin/sshd -D -e -f "$d/sshd_config"
}

ssh_opts() {
	printf '%s\n' -F /dev/null -i "$STATE/secrets/id_ed25519" -o IdentitiesOnly=yes \
		-o UserKnownHostsFile="$STATE/secrets/known_hosts" -o GlobalKnownHostsFile=/dev/null \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR
}

# crm_over_ssh N: the exact command the operator runs.
crm_over_ssh() {
	local opts=()
	mapfile -t opts < <(ssh_opts)
	timeout 20 ssh "${opts[@]}" "$SSH_USER@$(node_addr "$1")" \
		sudo -n crm_mon --one-shot --inactive --output-as=xml
}

cib_snippet() {
	sed -e "s/@VIP@/$VIP/g" -e "s/@ADDR0@/$(node_addr 0)/g" -e "s/@ADDR1@/$(node_addr 1)/g" \
		-e "s/@ADDR2@/$(node_addr 2)/g" "$REPO/hack/overcloud/$1"
}

# make_default_cib FILE: the fixture if another developer generated it, else a CIB built with
# the real tools: nodes, a VIP (IPaddr2) on controller-0 and a promotable galera clone, then
# crm_simulate brings the nodes up, starts and promotes galera (no status typed by hand).
make_default_cib() {
	local out=$1 w
	if [[ -s $CIB_FIXTURE ]]; then
		cp "$CIB_FIXTURE" "$out"
		echo "fixture $CIB_FIXTURE"
		return 0
	fi
	w=$(mktemp -d)
	(
		set -e
		export CIB_file=$w/cib.xml
		cibadmin --empty >"$CIB_file"
		crm_attribute --type crm_config --name stonith-enabled --update false
		crm_attribute --type crm_config --name cluster-name --update overcloud
		for n in "${NODES[@]}"; do
			cibadmin --create -o nodes --xml-text "<node id=\"$((n + 1))\" uname=\"$(node_name "$n")\"/>"
		done
		cibadmin --create -o resources --xml-text "$(cib_snippet cib-vip.xml)"
		cibadmin --create -o resources --xml-text "$(cib_snippet cib-galera.xml)"
		cibadmin --create -o constraints --xml-text "<rsc_location id=\"location-ip-$VIP\" rsc=\"ip-$VIP\" node=\"controller-0\" score=\"INFINITY\"/>"
		unset CIB_file
		crm_simulate -x "$w/cib.xml" -q 1 -u controller-0 -u controller-1 -u controller-2 -S -O "$w/up.xml" >/dev/null
		for n in "${NODES[@]}"; do
			CIB_file=$w/up.xml crm_attribute --node "$(node_name "$n")" --name master-galera --update 100 --lifetime reboot
		done
		crm_simulate -x "$w/up.xml" -S -O "$w/promoted.xml" >/dev/null
	) >"$w/log" 2>&1 || {
		cat "$w/log" >&2
		rm -rf "$w"
		die "generating a default CIB with cibadmin/crm_simulate failed"
	}
	cp "$w/promoted.xml" "$out"
	rm -rf "$w"
	echo "generated with cibadmin + crm_simulate"
}

# install_cib N FILE: validate with crm_mon, then replace controller N's copy atomically.
install_cib() {
	local n=$1 src=$2 d out
	d=$(node_dir "$n")
	[[ -r $src ]] || die "cannot read CIB file $src"
	cp "$src" "$d/.cib.xml.tmp.$$"
	chmod 0644 "$d/.cib.xml.tmp.$$" # unreadable CIBs give rc 0 with a misleading schema error
	# crm_mon exits 0 even for a broken file (libxml recovers "<cib>junk" as an empty CIB): it
	# must also print status code 0, no <errors>, and nothing (schema errors) on stderr.
	local rc=0
	out=$(CIB_file="$d/.cib.xml.tmp.$$" crm_mon --one-shot --inactive --output-as=xml 2>"$d/.cib-check.err") || rc=$?
	if ((rc != 0)) || [[ $out != *'<status code="0"'* || $out == *'<errors>'* || -s $d/.cib-check.err ]]; then
		rm -f "$d/.cib.xml.tmp.$$"
		{
			head -5 "$d/.cib-check.err"
			grep -A3 '<errors>' <<<"$out" || true
		} >&2
		rm -f "$d/.cib-check.err"
		die "crm_mon rejects $src as a CIB (rc $rc; see above)"
	fi
	rm -f "$d/.cib-check.err"
	mv -f "$d/.cib.xml.tmp.$$" "$d/cib.xml"
}

cib_up() {
	local n src=$STATE/cib-default.xml how=
	for n in "${NODES[@]}"; do
		[[ -s $(node_dir "$n")/cib.xml ]] && continue
		if [[ -z $how ]]; then
			how=$(make_default_cib "$src")
			log "Default CIB: $how"
		fi
		install_cib "$n" "$src"
	done
}

write_haproxy_cfg() {
	local f=$STATE/haproxy/haproxy.cfg n
	(
		umask 077
		{
			cat <<-EOF
				# Generated by hack/overcloud.sh: TripleO's mysql section on the DB VIP.
				global
				  maxconn 4096
				  log stdout format raw local0 info
				  stats socket ${HAPROXY_SOCK:-$STATE/haproxy/stats.sock} mode 660 level admin
				  stats timeout 2m

				defaults
				  mode tcp
				  log global
				  retries 3
				  timeout http-request 10s
				  timeout queue 2m
				  timeout connect 10s
				  timeout client 2m
				  timeout server 2m
				  timeout check 10s

				listen haproxy.stats
				  bind $VIP:1993
				  mode http
				  stats enable
				  stats uri /
				  stats auth $STATS_USER:$(<"$STATE/secrets/haproxy-stats-password")

				listen mysql
				  bind $VIP:3306 ${HAPROXY_TRANSPARENT-transparent}
				  option tcpka
				  option httpchk
				  stick on dst
				  stick-table type ip size 1000
				  timeout client 90m
				  timeout server 90m
			EOF
			for n in "${NODES[@]}"; do
				printf '  server %s %s:3306 backup check inter %s fall %s rise %s on-marked-down shutdown-sessions port 9200\n' \
					"$(node_name "$n")" "$(node_addr "$n")" "$INTER" "$FALL" "$RISE"
			done
		} >"$f.new"
	)
}

haproxy_sock() { socat -t 3 - "UNIX-CONNECT:$STATE/haproxy/stats.sock" 2>/dev/null; }

haproxy_up() {
	local f=$STATE/haproxy/haproxy.cfg pid
	write_haproxy_cfg
	if pid=$(pid_of "$STATE/haproxy/haproxy.pid"); then
		if cmp -s "$f.new" "$f"; then
			rm -f "$f.new"
			return 0
		fi
		log "HAProxy configuration changed (inter $INTER fall $FALL rise $RISE): restarting it"
		stop_pidfile "$STATE/haproxy/haproxy.pid" haproxy 10
	fi
	mv -f "$f.new" "$f"
	if ! haproxy -c -q -f "$f" >/dev/null 2>"$STATE/haproxy/check.log"; then
		cat "$STATE/haproxy/check.log" >&2
		die "haproxy -c rejects $f"
	fi
	spawn "$STATE/haproxy/haproxy.pid" "$STATE/haproxy/haproxy.log" 0 /usr/sbin/haproxy -db -f "$f"
	local i
	# Up to 20 s: on a cold, busy machine the first start takes seconds before the socket answers.
	for ((i = 0; i < 200; i++)); do
		[[ -S $STATE/haproxy/stats.sock ]] && haproxy_sock <<<"show info" | grep -q '^Pid:' && break
		pid_of "$STATE/haproxy/haproxy.pid" >/dev/null || break
		sleep 0.1
	done
	if ! pid_of "$STATE/haproxy/haproxy.pid" >/dev/null; then
		if [[ -z ${HAPROXY_TRANSPARENT+x} ]] && grep -qi transparent "$STATE/haproxy/haproxy.log"; then
			log "haproxy refused 'bind ... transparent' ($(grep -i transparent "$STATE/haproxy/haproxy.log" | tail -1)); retrying without it"
			HAPROXY_TRANSPARENT=
			haproxy_up
			return
		fi
		tail -10 "$STATE/haproxy/haproxy.log" >&2
		die "haproxy exited at start (log: $STATE/haproxy/haproxy.log)"
	fi
	log "Started haproxy on $VIP:3306 and :1993 (pid $(<"$STATE/haproxy/haproxy.pid"))"
}

# haproxy_servers: "controller-0=UP controller-1=UP ..." for the mysql backend.
haproxy_servers() {
	# Transitional states keep their check count ("UP_1/5": up, one failed check of five).
	haproxy_sock <<<"show stat" | awk -F, '$1=="mysql" && $2 ~ /^controller-/ {s=$18; gsub(/ /, "_", s); printf "%s=%s ", $2, s}'
}

haproxy_sticky() {
	haproxy_sock <<<"show table mysql" | sed -n -e 's/.* key=\([^ ]*\).* server_key=\([^ ]*\).*/\1->\2/p' \
		-e 't' -e 's/.* key=\([^ ]*\).* server_id=\([0-9]*\).*/\1->server_id=\2/p' | tr '\n' ' '
}

stats_csv() {
	curl -s --max-time 3 -K - "http://$VIP:1993/;csv" <<<"user = \"$STATS_USER:$(<"$STATE/secrets/haproxy-stats-password")\""
}

# ---------------------------------------------------------------------------------------------
# sandbox.json and env

write_sandbox_json() {
	local n sep='' nodes='' bridge=$BRIDGE cib sock=$STATE/haproxy/stats.sock pidfile=$STATE/haproxy/haproxy.pid
	# Live: HAProxy runs on every controller under Pacemaker; its socket path is the same on
	# each (as seen on the controller: the operator reads it over SSH on the VIP holder).
	live && sock=$LIVE_LOCAL/haproxy.sock pidfile=
	[[ $MODE == loopback ]] && bridge=lo
	for n in "${NODES[@]}"; do
		local ns
		ns=$(node_ns "$n")
		[[ $MODE == loopback ]] && ns=''
		cib=$(node_dir "$n")/cib.xml
		live && cib='' # crm_mon reads the live cluster
		nodes+=$(printf '%s\n    {"name":"%s","netns":"%s","address":"%s","mysqlPort":3306,"sshPort":22,"clustercheckPort":9200,"socket":"%s","cibFile":"%s"}' \
			"$sep" "$(node_name "$n")" "$ns" "$(node_addr "$n")" "$(node_sock "$n")" "$cib")
		sep=','
	done
	cat >"$STATE/sandbox.json.tmp" <<-EOF
		{
		  "pacemaker": "$PACEMAKER",
		  "vip": "$VIP",
		  "bridge": "$bridge",
		  "nodes": [$nodes
		  ],
		  "database": {"user": "$DB_USER", "passwordFile": "$STATE/secrets/db-password"},
		  "tls": {"user": "$TLS_USER", "caFile": "$STATE/tls/ca.crt", "otherCAFile": "$STATE/tls/other-ca.crt"},
		  "ssh": {"user": "$SSH_USER", "privateKeyFile": "$STATE/secrets/id_ed25519", "knownHostsFile": "$STATE/secrets/known_hosts"},
		  "haproxy": {"frontend": "$VIP:3306", "statsURL": "http://$VIP:1993/", "statsUser": "$STATS_USER", "statsPasswordFile": "$STATE/secrets/haproxy-stats-password", "statsSocket": "$sock", "backend": "mysql", "pidFile": "$pidfile"}
		}
	EOF
	mv -f "$STATE/sandbox.json.tmp" "$STATE/sandbox.json"
}

print_env() {
	cat <<-EOF
		export OCB_SANDBOX=$STATE/sandbox.json
		export OCB_SANDBOX_DIR=$STATE
		export OCB_VIP=$VIP
		export OCB_NODES="$(node_addr 0) $(node_addr 1) $(node_addr 2)"
		export OCB_DB_USER=$DB_USER
		export OCB_DB_PASSWORD_FILE=$STATE/secrets/db-password
		export OCB_SSH_USER=$SSH_USER
		export OCB_SSH_KEY=$STATE/secrets/id_ed25519
		export OCB_SSH_KNOWN_HOSTS=$STATE/secrets/known_hosts
		export OCB_HAPROXY_STATS_URL=http://$VIP:1993/
		export OCB_HAPROXY_STATS_USER=$STATS_USER
		export OCB_HAPROXY_STATS_PASSWORD_FILE=$STATE/secrets/haproxy-stats-password
		export OCB_HAPROXY_STATS_SOCKET=$STATE/haproxy/stats.sock
	EOF
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_up() {
	ensure_root
	ensure_packages
	id mysql >/dev/null 2>&1 || die "user mysql missing (mariadb-server should have created it)"
	ensure_dirs
	load_mode
	ensure_secrets
	ensure_ssh_user
	ensure_clustercheck_binary
	network_up
	ensure_tls # after network_up: the certificates name the addresses of the mode it settled on
	write_known_hosts
	if live; then
		live_up
		return
	fi
	cib_up
	galera_up
	local n i code ok
	for n in "${NODES[@]}"; do
		clustercheck_up "$n"
		sshd_up "$n"
	done
	# Verify every piece the way a client sees it, each wait bounded.
	for n in "${NODES[@]}"; do
		for ((i = 0; i < 40; i++)); do
			code=$(http_code "$(node_addr "$n")")
			[[ $code == 200 ]] && break
			sleep 0.25
		done
		[[ $code == 200 ]] || die "clustercheck on $(node_name "$n") answers '$code', want 200 (log: $(node_dir "$n")/clustercheck.log)"
		local out=''
		for ((i = 0; i < 20; i++)); do
			out=$(crm_over_ssh "$n" 2>&1) && [[ $out == *'<status code="0"'* ]] && break
			sleep 0.25
		done
		[[ $out == *'<status code="0"'* ]] || die "ssh $SSH_USER@$(node_addr "$n") sudo -n crm_mon failed: $(tail -3 <<<"$out")"
	done
	haproxy_up
	local want=$((RISE * INTER / 1000 + 10)) servers
	for ((i = 0; i < want * 4; i++)); do
		# The stats socket appears a moment after haproxy starts: no answer yet is "not up yet".
		servers=$(haproxy_servers) || servers=''
		ok=1
		for n in "${NODES[@]}"; do [[ $servers == *"$(node_name "$n")=UP "* ]] || ok=0; done
		((ok)) && break
		sleep 0.25
	done
	((ok)) || die "HAProxy mysql servers not all UP after ${want}s: $servers"
	haproxy_sock <<<"show table mysql" | grep -q '^# table: mysql' || die "HAProxy 'show table mysql' failed on $STATE/haproxy/stats.sock"
	stats_csv | grep -q '^mysql,controller-0,' || die "HAProxy stats CSV at http://$VIP:1993/;csv failed"
	write_sandbox_json
	log "Up in $(elapsed) ms: $VIP -> HAProxy [$servers], sandbox: $STATE/sandbox.json"
}

cmd_down() {
	ensure_root
	load_mode
	local purge=0 n ns pid
	[[ ${1:-} == --purge ]] && purge=1
	live && live_down "$purge"
	stop_pidfile "$STATE/haproxy/haproxy.pid" haproxy 10
	for n in "${NODES[@]}"; do
		stop_pidfile "$(node_dir "$n")/clustercheck.pid" "clustercheck on $(node_name "$n")" 10
		stop_pidfile "$(node_dir "$n")/sshd.pid" "sshd on $(node_name "$n")" 10
	done
	stop_galera
	# Anything else still inside our namespaces was started by us (ssh sessions, SST helpers).
	if [[ $MODE == netns ]]; then
		for n in "${NODES[@]}"; do
			ns=$(node_ns "$n")
			[[ -e /run/netns/$ns ]] || continue
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				pid_alive "$pid" || continue
				log "Stopping leftover pid $pid in $ns: $(tr '\0' ' ' <"/proc/$pid/cmdline" | head -c 80)"
				kill -CONT "$pid" 2>/dev/null || true
				kill -TERM "$pid" 2>/dev/null || true
				wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
			done
		done
	fi
	network_down
	rm -f "$SUDOERS"
	if [[ -f $STATE/.made-run-sshd ]]; then
		rmdir /run/sshd 2>/dev/null || true
		rm -f "$STATE/.made-run-sshd"
	fi
	rm -f "$STATE/mode"
	if ((purge)); then
		if compgen -G "/etc/sudoers.d/*-overcloud" >/dev/null; then
			log "Kept user $SSH_USER: another sandbox uses it ($(echo /etc/sudoers.d/*-overcloud))"
		elif [[ $(getent passwd "$SSH_USER" | cut -d: -f5) == "$USER_GECOS" ]]; then
			userdel -r "$SSH_USER" 2>/dev/null || userdel "$SSH_USER" || log "userdel $SSH_USER failed"
		fi
		[[ -n $STATE && $STATE != / ]] && rm -rf "$STATE" "$STATE.lock"
		log "Purged $STATE and user $SSH_USER"
	fi
	log "Down in $(elapsed) ms"
}

cmd_status() {
	ensure_root # root reads wsrep status over each unix socket (unix_socket auth)
	load_mode
	local bad=0 n pid w code sshd ns line
	[[ -d $STATE ]] || die "no sandbox state at $STATE (run: hack/overcloud.sh up)"
	if live; then
		live_status
		return
	fi
	for n in "${NODES[@]}"; do
		ns=$(node_ns "$n")
		if [[ $MODE == netns ]]; then
			if [[ -e /run/netns/$ns ]]; then
				if [[ -e $STATE/isolated-$n ]]; then ns+="(ISOLATED)" && bad=1; fi
			else
				ns+="(MISSING)" && bad=1
			fi
		else
			ns=loopback
		fi
		line=$(printf '%-13s %-12s %-11s' "$(node_name "$n")" "$ns" "$(node_addr "$n")")
		if pid=$(mysqld_pid "$n"); then
			if [[ $(pid_state "$pid") == T ]]; then
				line+=" mysqld=$pid(PAUSED) wsrep=?"
				bad=1
			elif w=$(wsrep "$n"); then
				read -r st comment size cstatus <<<"$w"
				line+=" mysqld=$pid $comment($st) size=$size $cstatus"
				[[ $st == 4 && $cstatus == Primary ]] || bad=1
			else
				line+=" mysqld=$pid wsrep=NO-ANSWER"
				bad=1
			fi
		else
			line+=" mysqld=DOWN"
			bad=1
		fi
		code=$(http_code "$(node_addr "$n")")
		if ! pid_of "$(node_dir "$n")/clustercheck.pid" >/dev/null; then
			code=DOWN
		elif [[ $code == 000 ]]; then
			code=UNREACHABLE
		fi
		line+=" clustercheck=$code"
		[[ $code == 200 ]] || bad=1
		if ! pid=$(pid_of "$(node_dir "$n")/sshd.pid"); then
			sshd=DOWN
		elif timeout 2 bash -c "exec 3<>/dev/tcp/$(node_addr "$n")/22" 2>/dev/null; then
			sshd="up($pid)"
		else
			sshd="UNREACHABLE($pid)"
		fi
		[[ $sshd == up* ]] || bad=1
		line+=" sshd=$sshd"
		echo "$line"
	done
	if pid=$(pid_of "$STATE/haproxy/haproxy.pid"); then
		local servers
		servers=$(haproxy_servers) || servers='(stats socket not answering) '
		echo "haproxy       pid=$pid $VIP:3306 servers: ${servers}sticky: $(haproxy_sticky)"
		for n in "${NODES[@]}"; do [[ $servers == *"$(node_name "$n")=UP "* ]] || bad=1; done
	else
		echo "haproxy       DOWN"
		bad=1
	fi
	if route_check; then
		echo "routes        ok: $VIP $(node_addr 0) $(node_addr 1) $(node_addr 2) via $([[ $MODE == netns ]] && echo "$BRIDGE" || echo lo)"
	else
		echo "routes        FAILED"
		bad=1
	fi
	if [[ $MODE == netns && $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null) == 1 ]]; then
		echo "note          bridge-nf-call-iptables=1: iptables FORWARD rules also filter controller<->controller traffic"
	fi
	return "$bad"
}

cmd_env() {
	load_mode
	[[ -d $STATE/secrets ]] || die "no sandbox state at $STATE (run: hack/overcloud.sh up)"
	write_sandbox_json
	print_env
}

cmd_signal() {
	local what=$1 n=$2 pid
	check_node "$n"
	ensure_root
	load_mode
	pid=$(mysqld_pid "$n") || die "mariadbd on $(node_name "$n") is not running"
	case $what in
	pause)
		kill -STOP "$pid"
		log "Paused mariadbd on $(node_name "$n") (SIGSTOP pid $pid)"
		;;
	resume)
		kill -CONT "$pid"
		log "Resumed mariadbd on $(node_name "$n") (SIGCONT pid $pid)"
		;;
	kill)
		kill -KILL "$pid"
		wait_gone "$pid" 10 || die "pid $pid survives SIGKILL"
		log "Killed mariadbd on $(node_name "$n") (SIGKILL pid $pid); 'start $n' recovers and rejoins it by IST"
		;;
	esac
}

cmd_start() {
	local n=$1 o others=0
	check_node "$n"
	ensure_root
	load_mode
	if mysqld_pid "$n" >/dev/null; then
		log "mariadbd on $(node_name "$n") already runs (pid $(mysqld_pid "$n"))"
	else
		for o in "${NODES[@]}"; do
			((o == n)) && continue
			is_primary "$o" && others=1
		done
		((others)) || die "no other node is in a Primary component to join; run 'hack/overcloud.sh up' to bootstrap"
		start_mysqld "$n" join
		wait_synced "$n" 180
		log "$(node_name "$n") Synced in $(elapsed) ms, state transfer: $(transfer_kind "$n")"
	fi
	[[ -x $STATE/bin/clustercheck ]] && clustercheck_up "$n"
	[[ -f $(node_dir "$n")/sshd_config ]] && sshd_up "$n"
	return 0
}

cmd_link() {
	local what=$1 n=$2
	check_node "$n"
	ensure_root
	load_mode
	[[ $MODE == netns ]] || die "$what needs network namespaces; this sandbox runs in the loopback fallback"
	ip link show "$(node_veth "$n")" >/dev/null 2>&1 || die "$(node_veth "$n") missing: is the sandbox up?"
	if [[ $what == isolate ]]; then
		ip link set "$(node_veth "$n")" down
		touch "$STATE/isolated-$n"
		log "Isolated $(node_name "$n"): $(node_veth "$n") down (Galera drops it from the primary component within ~5-10 s)"
	else
		ip link set "$(node_veth "$n")" up
		rm -f "$STATE/isolated-$n"
		log "Rejoined $(node_name "$n"): $(node_veth "$n") up (it rejoins the primary component by itself)"
	fi
}

cmd_desync() {
	local n=$1 onoff=${2:-} v
	check_node "$n"
	ensure_root
	load_mode
	case $onoff in on | ON) v=ON ;; off | OFF) v=OFF ;; *) die "desync N on|off" ;; esac
	sql "$n" <<<"SET GLOBAL wsrep_desync=$v" >/dev/null || die "SET GLOBAL wsrep_desync=$v on $(node_name "$n") failed"
	log "$(node_name "$n"): wsrep_desync=$v, wsrep: $(wsrep "$n" || echo no answer)"
}

cmd_cib() {
	local n=$1 f=${2:-}
	check_node "$n"
	[[ -n $f ]] || die "usage: cib N FILE"
	load_mode
	[[ -d $(node_dir "$n") ]] || die "no sandbox state at $STATE (run: hack/overcloud.sh up)"
	install_cib "$n" "$f"
	log "Installed $f as $(node_dir "$n")/cib.xml"
}

with_lock() {
	install -d -m 0755 "$(dirname "$STATE")"
	exec 9>"$STATE.lock"
	flock -w 600 9 || die "another hack/overcloud.sh holds $STATE.lock for 10 minutes"
	"$@"
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	up) with_lock cmd_up ;;
	down) with_lock cmd_down "$@" ;;
	status) cmd_status ;;
	env) cmd_env ;;
	pause | resume | kill | start | standby | unstandby | maintenance | cleanup | stop-galera | start-galera | \
		freeze-corosync | thaw-corosync | power-off | power-on | crm | crm-mon | fencing)
		if live; then
			if [[ $cmd == crm || $cmd == crm-mon || $cmd == power-off || $cmd == power-on || $cmd == fencing ]]; then
				# Not under the script's lock: the fence agent powers controllers off and on
				# while a test's `start` holds it, waiting for exactly that.
				ensure_root
				load_mode
				live_cmd "$cmd" "${1:-}"
			else
				with_lock live_locked "$cmd" "${1:-}"
			fi
		elif [[ $cmd == start ]]; then
			with_lock cmd_start "${1:-}"
		elif [[ $cmd == pause || $cmd == resume || $cmd == kill ]]; then
			with_lock cmd_signal "$cmd" "${1:-}"
		else
			die "'$cmd' needs the live Pacemaker sandbox (OCB_PACEMAKER=live, the default)"
		fi
		;;
	pid | vip)
		live || die "'$cmd' needs the live Pacemaker sandbox (OCB_PACEMAKER=live, the default)"
		ensure_root
		load_mode
		live_cmd "$cmd" "${1:-}" "${2:-}"
		;;
	isolate | rejoin) with_lock cmd_link "$cmd" "${1:-}" ;;
	desync) cmd_desync "${1:-}" "${2:-}" ;;
	cib)
		live && die "'cib' installs a CIB file for crm_mon; the live sandbox's crm_mon reads the live cluster"
		with_lock cmd_cib "${1:-}" "${2:-}"
		;;
	-h | --help | help | '') usage ;;
	*)
		log "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
