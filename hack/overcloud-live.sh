# shellcheck shell=bash
# hack/overcloud-live.sh: the live Pacemaker layer of hack/overcloud.sh, sourced by it when
# OCB_PACEMAKER=live. Not run on its own.
#
# Each controller is a network namespace (as in the file mode) plus its own PID, mount and
# UTS namespaces: PID 1 there is nsinit (hack/nsinit), which reaps orphans; the mount
# namespace gives it a private /run, /dev/shm and /tmp, and its own Corosync and Pacemaker
# state, as a host has. Inside run Corosync 3 (knet) and Pacemaker, which start and promote
# Galera through the real ocf:heartbeat:galera agent (bootstrap and rejoin decided by the
# agent), hold the DB VIP with ocf:heartbeat:IPaddr2 and run HAProxy on every controller
# (ocf:heartbeat:anything: Debian has no haproxy agent), TripleO's layout; plus clustercheck
# on :9200 and sshd on :22 (for the operator's `sudo crm_mon`), started by us like xinetd and
# sshd on a controller.
#
# Why each namespace is needed (measured; docs/sandbox.md has more):
#   - PID: mysqld_safe, when its mariadbd dies, kill -9s every process whose command line
#     matches its pid file; without a PID namespace per controller it kills the other
#     controllers' mariadbd. A PID namespace also makes "power off" one SIGKILL.
#   - mount: libqb's rings in /dev/shm and Pacemaker's files in /run are named by PID, and
#     PIDs repeat across PID namespaces; /var/lib/pacemaker and /etc/corosync are per node;
#     mysqld_safe --wsrep-recover needs a world-writable /tmp, which this machine's is not.
#   - network: libqb's IPC uses abstract unix sockets, which are per network namespace.
#
# Paths a clone-wide resource parameter names (the galera agent's datadir, socket, log;
# HAProxy's stats socket) use $STATE/local, which each controller's mount namespace binds
# to its own $STATE/cN: one parameter, a per-node file, and the host still sees each file
# under $STATE/cN.

readonly LIVE_LOCAL="$STATE/local"

live_holder_file() { echo "$(node_dir "$1")/holder.pid"; }

# live_holder N: the host PID of controller N's nsinit (PID 1 of its PID namespace), if up.
live_holder() {
	local pid
	pid=$(cat "$(live_holder_file "$1")" 2>/dev/null) || return 1
	[[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == nsinit && $(pid_state "$pid") != Z ]] || return 1
	echo "$pid"
}

# nsx N CMD...: run CMD inside controller N (its network, mount, PID and UTS namespaces).
nsx() {
	local n=$1 h
	shift
	h=$(live_holder "$n") || die "$(node_name "$n") is powered off (no PID namespace init)"
	nsenter --target "$h" --pid --mount --net --uts -- "$@"
}

# live_pid_in N COMM: the host PIDs of the processes named COMM in controller N's PID namespace.
live_pid_in() {
	local n=$1 comm=$2 h ns p
	h=$(live_holder "$n") || return 1
	ns=$(readlink "/proc/$h/ns/pid") || return 1
	for p in $(ip netns pids "$(node_ns "$n")" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$comm" && $(readlink "/proc/$p/ns/pid" 2>/dev/null) == "$ns" ]] || continue
		[[ $(pid_state "$p") == Z ]] && continue
		echo "$p"
	done
}

# live_daemon_pid PIDFILE COMM: the PID in PIDFILE if it is alive and still COMM.
live_daemon_pid() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" && $(pid_state "$pid") != Z ]] || return 1
	echo "$pid"
}

# live_spawn PIDFILE LOGFILE N COMM CMD...: start CMD inside controller N, detached. nsenter
# --pid must fork, so CMD is nsenter's child: PIDFILE gets CMD's host PID (found by COMM),
# PIDFILE.nsenter nsenter's, which must get SIGCONT too when CMD is stopped and resumed
# (util-linux's nsenter stops itself when its child stops).
live_spawn() {
	local pidfile=$1 logfile=$2 n=$3 comm=$4 h i c
	shift 4
	h=$(live_holder "$n") || die "$(node_name "$n") is powered off"
	setsid nsenter --target "$h" --pid --mount --net --uts -- "$@" </dev/null >>"$logfile" 2>&1 9>&- &
	local outer=$!
	echo "$outer" >"$pidfile.nsenter"
	for ((i = 0; i < 200; i++)); do
		# shellcheck disable=SC2013 # the file is one line of space-separated PIDs
		for c in $(cat "/proc/$outer/task/$outer/children" 2>/dev/null); do
			if [[ $(cat "/proc/$c/comm" 2>/dev/null) == "$comm" ]]; then
				echo "$c" >"$pidfile"
				return 0
			fi
		done
		pid_alive "$outer" || break
		sleep 0.05
	done
	tail -5 "$logfile" >&2 || true
	die "$comm did not start in $(node_name "$n") (log: $logfile)"
}

live_write_nsinit() {
	cat >"$STATE/bin/nsinit.sh.tmp" <<-'EOF'
		#!/bin/sh
		# PID 1 of controller N's PID namespace, before it execs nsinit: the controller's
		# private view of the filesystem (hack/overcloud-live.sh says why each mount is needed).
		# Started as: ip netns exec NS unshare --mount --uts --pid --fork --mount-proc
		#   --propagation private nsinit.sh STATE N
		set -eu
		S=$1 n=$2 D=$1/c$2
		mount -t tmpfs -o mode=0755,size=64m ocb-run /run
		mkdir -p /run/crm /run/mysqld /run/resource-agents /run/lock /run/sshd /run/corosync
		chown hacluster:haclient /run/crm
		chmod 0750 /run/crm
		chown mysql:mysql /run/mysqld
		mount -t tmpfs -o mode=1777,size=256m ocb-shm /dev/shm
		# A world-writable /tmp of its own, with the state directory (under /tmp) still there.
		case $S in
		/tmp/*)
			mkdir -p /run/.state "$D/root-tmp/${S#/tmp/}"
			mount --bind "$S" /run/.state
			mount --bind "$D/root-tmp" /tmp
			mount --move /run/.state "$S"
			rmdir /run/.state
			;;
		*) mount --bind "$D/root-tmp" /tmp ;;
		esac
		mount --bind "$D/corosync" /etc/corosync
		mount --bind "$D/corosync-lib" /var/lib/corosync
		mount --bind "$D/pacemaker" /var/lib/pacemaker
		mount --bind "$D/pacemaker-log" /var/log/pacemaker
		# The galera agent's checks use the mysql client's default socket, /run/mysqld/mysqld.sock;
		# the host reaches it as $D/run-mysqld/mysqld.sock.
		mount --bind "$D/run-mysqld" /run/mysqld
		mount --bind "$D" "$S/local"
		hostname "controller-$n"
		touch "$D/ns.ready"
		exec "$S/bin/nsinit"
	EOF
	chmod 0755 "$STATE/bin/nsinit.sh.tmp"
	mv -f "$STATE/bin/nsinit.sh.tmp" "$STATE/bin/nsinit.sh"
}

ensure_nsinit_binary() {
	local bin=$STATE/bin/nsinit src=$REPO/hack/nsinit/main.go
	[[ -x $bin && $bin -nt $src ]] && return 0
	command -v go >/dev/null || die "go not in PATH: needed once to build $src"
	log "Building nsinit"
	(cd "$REPO" && go build -o "$bin.tmp" ./hack/nsinit) || die "go build ./hack/nsinit failed"
	mv -f "$bin.tmp" "$bin"
}

# live_dirs N: controller N's Corosync and Pacemaker state, its /tmp, and corosync.conf.
live_dirs() {
	local n=$1 d m
	d=$(node_dir "$n")
	install -d -m 0755 "$d/corosync" "$d/corosync-lib"
	install -d -m 1777 "$d/root-tmp"
	install -d -m 0755 -o mysql -g mysql "$d/run-mysqld"
	install -d -m 0750 -o hacluster -g haclient "$d/pacemaker" "$d/pacemaker/cib" "$d/pacemaker/pengine" \
		"$d/pacemaker/blackbox" "$d/pacemaker/cores"
	install -d -m 0770 -o hacluster -g haclient "$d/pacemaker-log"
	install -m 0400 "$STATE/secrets/corosync-authkey" "$d/corosync/authkey"
	{
		cat <<-EOF
			# Generated by hack/overcloud.sh (live Pacemaker) for $(node_name "$n").
			totem {
			    version: 2
			    cluster_name: $CLUSTER_NAME
			    transport: knet
			    crypto_cipher: aes256
			    crypto_hash: sha256
			    token: 3000
			}
			quorum {
			    provider: corosync_votequorum
			}
			logging {
			    to_logfile: yes
			    logfile: $LIVE_LOCAL/corosync.log
			    to_syslog: no
			    to_stderr: no
			    timestamp: on
			}
			nodelist {
		EOF
		for m in "${NODES[@]}"; do
			printf '    node {\n        ring0_addr: %s\n        name: %s\n        nodeid: %d\n    }\n' \
				"$(node_addr "$m")" "$(node_name "$m")" "$((m + 1))"
		done
		echo "}"
	} >"$d/corosync/corosync.conf"
	chmod 0644 "$d/corosync/corosync.conf"
}

# live_cib: the whole configuration, written into every controller's CIB before Pacemaker
# first starts, so that the cluster comes up configured (and dc-deadtime, which a running
# cluster's new CIB cannot shorten for its first election, is 5 s, not 20). Pacemaker reads
# an on-disk CIB without a digest file, with a warning, and writes the digest itself.
live_cib() {
	local m
	cat <<-EOF
		<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="1">
		  <configuration>
		    <crm_config>
		      <cluster_property_set id="cib-bootstrap-options">
		        <nvpair id="opt-cluster-name" name="cluster-name" value="$CLUSTER_NAME"/>
		        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="true"/>
		        <nvpair id="opt-dc-deadtime" name="dc-deadtime" value="5s"/>
		        <nvpair id="opt-recheck" name="cluster-recheck-interval" value="60s"/>
		        <nvpair id="opt-stop-all" name="stop-all-resources" value="false"/>
		      </cluster_property_set>
		    </crm_config>
		    <nodes>
	EOF
	for m in "${NODES[@]}"; do
		printf '      <node id="%d" uname="%s"/>\n' "$((m + 1))" "$(node_name "$m")"
	done
	cat <<-EOF
		    </nodes>
		    <resources>
		      $(live_fence_primitive)
		      <clone id="galera-clone">
		        <meta_attributes id="galera-clone-meta">
		          <nvpair id="galera-clone-promotable" name="promotable" value="true"/>
		          <nvpair id="galera-clone-promoted-max" name="promoted-max" value="3"/>
		          <nvpair id="galera-clone-ordered" name="ordered" value="true"/>
		        </meta_attributes>
		        <primitive id="galera" class="ocf" provider="heartbeat" type="galera">
		          <instance_attributes id="galera-ia">
		            <nvpair id="galera-ia-address" name="wsrep_cluster_address" value="gcomm://$(node_name 0),$(node_name 1),$(node_name 2)"/>
		            <nvpair id="galera-ia-binary" name="binary" value="/usr/bin/mysqld_safe"/>
		            <nvpair id="galera-ia-config" name="config" value="$LIVE_LOCAL/my.cnf"/>
		            <nvpair id="galera-ia-datadir" name="datadir" value="$LIVE_LOCAL/data"/>
		            <nvpair id="galera-ia-socket" name="socket" value="/run/mysqld/mysqld.sock"/>
		            <nvpair id="galera-ia-pid" name="pid" value="/run/mysqld/mysqld.pid"/>
		            <nvpair id="galera-ia-log" name="log" value="$LIVE_LOCAL/mysqld.log"/>
		            <nvpair id="galera-ia-check-user" name="check_user" value="root"/>
		            <nvpair id="galera-ia-create" name="enable_creation" value="true"/>
		          </instance_attributes>
		          <operations>
		            <op id="galera-start" name="start" interval="0s" timeout="120s"/>
		            <op id="galera-stop" name="stop" interval="0s" timeout="120s"/>
		            <op id="galera-promote" name="promote" interval="0s" timeout="300s" on-fail="block"/>
		            <op id="galera-demote" name="demote" interval="0s" timeout="120s"/>
		            <op id="galera-monitor-20" name="monitor" interval="20s" timeout="30s"/>
		            <op id="galera-monitor-10" name="monitor" interval="10s" timeout="30s" role="Promoted"/>
		            <op id="galera-monitor-30" name="monitor" interval="30s" timeout="30s" role="Unpromoted"/>
		          </operations>
		        </primitive>
		      </clone>
		      <primitive id="ip-$VIP" class="ocf" provider="heartbeat" type="IPaddr2">
		        <instance_attributes id="vip-ia">
		          <nvpair id="vip-ia-ip" name="ip" value="$VIP"/>
		          <nvpair id="vip-ia-netmask" name="cidr_netmask" value="24"/>
		          <nvpair id="vip-ia-nic" name="nic" value="eth0"/>
		        </instance_attributes>
		        <operations>
		          <op id="vip-start" name="start" interval="0s" timeout="20s"/>
		          <op id="vip-stop" name="stop" interval="0s" timeout="20s"/>
		          <op id="vip-monitor" name="monitor" interval="10s" timeout="20s"/>
		        </operations>
		      </primitive>
		      <clone id="haproxy-clone">
		        <primitive id="haproxy" class="ocf" provider="heartbeat" type="anything">
		          <instance_attributes id="haproxy-ia">
		            <nvpair id="haproxy-ia-binfile" name="binfile" value="/usr/sbin/haproxy"/>
		            <nvpair id="haproxy-ia-options" name="cmdline_options" value="-db -f $STATE/haproxy/haproxy.cfg"/>
		            <nvpair id="haproxy-ia-log" name="logfile" value="$LIVE_LOCAL/haproxy.log"/>
		            <nvpair id="haproxy-ia-errlog" name="errlogfile" value="$LIVE_LOCAL/haproxy.log"/>
		          </instance_attributes>
		          <operations>
		            <op id="haproxy-start" name="start" interval="0s" timeout="20s"/>
		            <op id="haproxy-stop" name="stop" interval="0s" timeout="20s"/>
		            <op id="haproxy-monitor" name="monitor" interval="10s" timeout="20s"/>
		          </operations>
		        </primitive>
		      </clone>
		    </resources>
		    <constraints>
		      <rsc_colocation id="vip-with-galera-promoted" rsc="ip-$VIP" with-rsc="galera-clone" with-rsc-role="Promoted" score="INFINITY"/>
		      <rsc_colocation id="vip-with-haproxy" rsc="ip-$VIP" with-rsc="haproxy-clone" score="INFINITY"/>
		      <rsc_order id="vip-then-haproxy" first="ip-$VIP" first-action="start" then="haproxy-clone" then-action="start" kind="Optional"/>
		    </constraints>
		  </configuration>
		  <status/>
		</cib>
	EOF
}

# The fence device: fence_ocb (hack/overcloud/fence_ocb) asking the power controller
# (hack/fencebmc) on the bridge's host address, for every controller.
readonly FENCE_PORT=6230
live_fence_primitive() {
	cat <<-EOF
		<primitive id="fence-ocb" class="stonith" type="fence_ocb">
		        <instance_attributes id="fence-ocb-ia">
		          <nvpair id="fence-ocb-ipaddr" name="ipaddr" value="$HOST_IP"/>
		          <nvpair id="fence-ocb-ipport" name="ipport" value="$FENCE_PORT"/>
		          <nvpair id="fence-ocb-token" name="token_file" value="$STATE/secrets/fence-token"/>
		          <nvpair id="fence-ocb-hosts" name="pcmk_host_list" value="$(node_name 0) $(node_name 1) $(node_name 2)"/>
		        </instance_attributes>
		        <operations>
		          <op id="fence-ocb-monitor" name="monitor" interval="60s" timeout="20s"/>
		        </operations>
		      </primitive>
	EOF
}

# live_fencing_up: the agent where pacemaker-fenced finds it, the power controller listening.
live_fencing_up() {
	if ! cmp -s "$REPO/hack/overcloud/fence_ocb" /usr/sbin/fence_ocb; then
		install -m 0755 "$REPO/hack/overcloud/fence_ocb" /usr/sbin/fence_ocb
	fi
	if [[ ! -s $STATE/secrets/fence-token ]]; then
		(umask 077 && gen_password >"$STATE/secrets/fence-token")
	fi
	local bin=$STATE/bin/fencebmc src=$REPO/hack/fencebmc/main.go
	if ! [[ -x $bin && $bin -nt $src ]]; then
		command -v go >/dev/null || die "go not in PATH: needed once to build $src"
		log "Building fencebmc"
		(cd "$REPO" && go build -o "$bin.tmp" ./hack/fencebmc) || die "go build ./hack/fencebmc failed"
		mv -f "$bin.tmp" "$bin"
		stop_pidfile "$STATE/fencebmc.pid" "fencebmc (binary rebuilt)" 5
	fi
	pid_of "$STATE/fencebmc.pid" >/dev/null && return 0
	spawn "$STATE/fencebmc.pid" "$STATE/fencebmc.log" -1 "$bin" -listen "$HOST_IP:$FENCE_PORT" \
		-token-file "$STATE/secrets/fence-token" -script "$REPO/hack/overcloud.sh" -state "$STATE"
	local i
	for ((i = 0; i < 50; i++)); do
		timeout 1 bash -c "exec 3<>/dev/tcp/$HOST_IP/$FENCE_PORT" 2>/dev/null && return 0
		sleep 0.1
	done
	die "fencebmc did not start: $(tail -3 "$STATE/fencebmc.log")"
}

# live_fencing_configured N: a CIB seeded before fencing existed (up without --purge since)
# gets the device and stonith-enabled through the running cluster.
live_fencing_configured() {
	local n=$1 res
	res=$(pcmk "$n" cibadmin --query --scope resources 2>/dev/null) || return 1
	if [[ $res != *'id="fence-ocb"'* ]]; then
		pcmk "$n" cibadmin --create -o resources --xml-text "$(live_fence_primitive)" >/dev/null || return 1
		log "Added the fence device fence-ocb to the running cluster's CIB"
	fi
	pcmk "$n" crm_attribute --type crm_config --name stonith-enabled --update true >/dev/null
}

# live_seed_cib N: controller N's on-disk CIB, only when it has none (a restart keeps its CIB).
live_seed_cib() {
	local d
	d=$(node_dir "$1")/pacemaker/cib
	[[ -s $d/cib.xml ]] && return 0
	live_cib >"$d/cib.xml.tmp"
	chown hacluster:haclient "$d/cib.xml.tmp"
	chmod 0600 "$d/cib.xml.tmp"
	mv -f "$d/cib.xml.tmp" "$d/cib.xml"
}

# live_power_on N: controller N's namespaces and its daemons (Corosync, Pacemaker,
# clustercheck, sshd); Pacemaker starts the resources. Idempotent.
live_power_on() {
	local n=$1 d h i
	d=$(node_dir "$n")
	if ! h=$(live_holder "$n"); then
		rm -f "$d/ns.ready" "$d"/*.pid "$d"/*.pid.nsenter
		setsid ip netns exec "$(node_ns "$n")" unshare --mount --uts --pid --fork --mount-proc --propagation private \
			/bin/sh "$STATE/bin/nsinit.sh" "$STATE" "$n" </dev/null >"$d/nsinit.log" 2>&1 9>&- &
		local outer=$!
		for ((i = 0; i < 100; i++)); do
			[[ -e $d/ns.ready ]] && break
			pid_alive "$outer" || break
			sleep 0.05
		done
		[[ -e $d/ns.ready ]] || die "$(node_name "$n"): its namespaces did not come up: $(tail -3 "$d/nsinit.log")"
		for ((i = 0; i < 100; i++)); do
			# shellcheck disable=SC2013 # one line of space-separated PIDs
			for h in $(cat "/proc/$outer/task/$outer/children" 2>/dev/null); do
				[[ $(cat "/proc/$h/comm" 2>/dev/null) == nsinit ]] && break 2
			done
			h=
			sleep 0.05
		done
		[[ -n $h ]] || die "$(node_name "$n"): no nsinit under unshare (pid $outer)"
		echo "$h" >"$(live_holder_file "$n")"
		echo "$outer" >"$d/holder.pid.unshare"
	fi
	if ! live_daemon_pid "$d/corosync.pid" corosync >/dev/null; then
		live_spawn "$d/corosync.pid" "$d/corosync.stdout" "$n" corosync corosync -f
	fi
	if ! live_daemon_pid "$d/pacemakerd.pid" pacemakerd >/dev/null; then
		live_seed_cib "$n"
		live_spawn "$d/pacemakerd.pid" "$d/pacemakerd.stdout" "$n" pacemakerd \
			env PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_logfacility=none PCMK_logpriority=info pacemakerd
	fi
	if ! live_daemon_pid "$d/clustercheck.pid" clustercheck >/dev/null; then
		live_spawn "$d/clustercheck.pid" "$d/clustercheck.log" "$n" clustercheck "$STATE/bin/clustercheck" \
			-listen "$(node_addr "$n"):9200" -socket "$(node_sock "$n")" \
			-credentials "$STATE/secrets/clustercheck" -timeout 1500ms
	fi
	if ! live_daemon_pid "$d/sshd.pid" sshd >/dev/null; then
		write_sshd_config "$n"
		rm -f "$d/sshd.pid"
		live_spawn "$d/sshd.pid.outer" "$d/sshd.log" "$n" sshd /usr/sbin/sshd -D -e -f "$d/sshd_config"
		mv -f "$d/sshd.pid.outer" "$d/sshd.pid"
	fi
}

# live_power_off N: SIGKILL to controller N's nsinit: the kernel kills everything in its
# PID namespace at once, as a power cut would. Its network namespace stays (the NIC).
live_power_off() {
	local n=$1 d h p
	d=$(node_dir "$n")
	h=$(live_holder "$n") || return 0
	# Stopped processes (freeze-corosync) and their nsenter parents get SIGCONT, so that
	# they can die and be reaped.
	for p in $(ip netns pids "$(node_ns "$n")" 2>/dev/null); do kill -CONT "$p" 2>/dev/null || true; done
	kill -KILL "$h" 2>/dev/null || true
	wait_gone "$h" 10 || die "$(node_name "$n"): nsinit (pid $h) survives SIGKILL"
	# shellcheck disable=SC2013 # one PID per file
	for p in $(cat "$d"/*.nsenter "$d/holder.pid.unshare" 2>/dev/null); do
		kill -CONT "$p" 2>/dev/null || true
	done
	rm -f "$d/holder.pid" "$d/ns.ready"
	log "Powered off $(node_name "$n") (PID namespace of nsinit $h killed)"
}

# pcmk N ARGS...: a Pacemaker command line tool run on controller N.
pcmk() {
	local n=$1
	shift
	timeout 30 nsenter --target "$(live_holder "$n")" --pid --mount --net --uts -- "$@"
}

# live_any: a controller whose Pacemaker answers, for cluster-wide commands. Not one whose
# Corosync is frozen (freeze-corosync): its crm_mon still shows quorum from its last
# membership, and a change made there would wait for Corosync forever.
live_any() {
	local n xml p
	for n in "${NODES[@]}"; do
		live_daemon_pid "$(node_dir "$n")/pacemakerd.pid" pacemakerd >/dev/null || continue
		if p=$(live_daemon_pid "$(node_dir "$n")/corosync.pid" corosync) &&
			[[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) == T ]]; then
			continue
		fi
		# Read whole, then matched: `| grep -q` would stop reading at the match, and crm_mon's
		# SIGPIPE fail the pipeline now and then (pipefail).
		xml=$(pcmk "$n" crm_mon --one-shot --output-as=xml 2>/dev/null) || continue
		[[ $xml == *'with_quorum="true"'* ]] || continue
		echo "$n"
		return 0
	done
	return 1
}

# live_summary: one line from crm_mon's XML: quorum, nodes, galera roles, VIP holder, HAProxy.
live_summary() {
	local n xml
	n=$(live_any) || {
		echo "no controller's Pacemaker has quorum"
		return 1
	}
	xml=$(pcmk "$n" crm_mon --one-shot --inactive --output-as=xml 2>/dev/null) || return 1
	awk -v vipid="ip-$VIP" '
		/<current_dc / { match($0, /name="[^"]*"/); dc = substr($0, RSTART + 6, RLENGTH - 7); q = ($0 ~ /with_quorum="true"/) ? "yes" : "no" }
		/<node name=/ && /online=/ {
			match($0, /name="[^"]*"/); nm = substr($0, RSTART + 6, RLENGTH - 7)
			f = ($0 ~ /online="true"/) ? "online" : "OFFLINE"
			if ($0 ~ /standby="true"/) f = f ",standby"
			if ($0 ~ /unclean="true"/) f = f ",UNCLEAN"
			if ($0 ~ /maintenance="true"/) f = f ",maintenance"
			if ($0 ~ /pending="true"/) f = f ",pending"
			nodes = nodes " " nm "[" f "]"
		}
		/<resource / { match($0, /id="[^"]*"/); id = substr($0, RSTART + 4, RLENGTH - 5); match($0, /role="[^"]*"/); role = substr($0, RSTART + 6, RLENGTH - 7)
			failed = ($0 ~ /failed="true"/) ? "!failed" : ""; on = "" }
		/<node name=/ && !/online=/ && id != "" { match($0, /name="[^"]*"/); on = substr($0, RSTART + 6, RLENGTH - 7)
			if (id == "galera") galera = galera " " on ":" role failed
			if (id == vipid) vip = on
			if (id == "haproxy") hap = hap " " on
		}
		/<\/resource>/ { id = "" }
		END { printf "quorum=%s dc=%s |%s | galera%s | vip=%s | haproxy%s\n", q, dc, nodes, (galera == "" ? " -" : galera), (vip == "" ? "-" : vip), (hap == "" ? " -" : hap) }
	' <<<"$xml"
}

# live_vip_holder: the index of the controller holding the VIP according to Pacemaker. A
# one-shot crm_mon fails now and then while the CIB is being written: up to 10 tries.
live_vip_holder() {
	local s i
	for ((i = 0; i < 10; i++)); do
		if s=$(live_summary 2>/dev/null); then
			s=${s##*vip=controller-}
			if [[ ${s:0:1} =~ ^[012]$ ]]; then
				echo "${s:0:1}"
				return 0
			fi
		fi
		sleep 0.5
	done
	return 1
}

# live_all_promoted: every galera instance Promoted and the VIP started.
live_all_promoted() {
	local s
	s=$(live_summary 2>/dev/null) || return 1
	# An UNCLEAN node awaiting its fence still shows its last roles (Promoted): every node
	# must also be online, or a test's cleanup would return before the fence hits.
	[[ $s == *"$(node_name 0):Promoted"* && $s == *"$(node_name 1):Promoted"* && $s == *"$(node_name 2):Promoted"* &&
		$s != *"!failed"* && $s != *"vip=-"* && $s != *OFFLINE* && $s != *UNCLEAN* && $s != *pending* ]]
}

# live_wait_promoted SECONDS: until every galera instance is Promoted with the VIP up, logging
# each change of Pacemaker's view.
live_wait_promoted() {
	local secs=$1 last='' s start=$SECONDS
	while ((SECONDS - start < secs)); do
		s=$(live_summary 2>/dev/null) || s="(no quorum yet)"
		if [[ $s != "$last" ]]; then
			log "Pacemaker: $s"
			last=$s
		fi
		live_all_promoted && return 0
		sleep 1
	done
	return 1
}

live_haproxy_sock() { socat -t 3 - "UNIX-CONNECT:$(node_dir "$1")/haproxy.sock" 2>/dev/null; }

live_up() {
	local n i code out
	ensure_nsinit_binary
	live_write_nsinit
	if [[ ! -s $STATE/secrets/corosync-authkey ]]; then
		(umask 077 && head -c 256 /dev/urandom >"$STATE/secrets/corosync-authkey")
	fi
	install -d -m 0755 "$LIVE_LOCAL"
	HAPROXY_SOCK=$LIVE_LOCAL/haproxy.sock write_haproxy_cfg
	mv -f "$STATE/haproxy/haproxy.cfg.new" "$STATE/haproxy/haproxy.cfg"
	for n in "${NODES[@]}"; do
		live_dirs "$n"
		write_mycnf "$n"
		# HAProxy binds the VIP on every controller; only the holder has it.
		ip netns exec "$(node_ns "$n")" sysctl -qw net.ipv4.ip_nonlocal_bind=1
	done
	live_fencing_up
	# Corosync one at a time, then Pacemaker: each waits for the previous to be listening.
	for n in "${NODES[@]}"; do
		live_power_on "$n"
	done
	log "Corosync and Pacemaker started on ${#NODES[@]} controllers; waiting for Galera to be promoted everywhere"
	# `down` leaves stop-all-resources=true in the CIB it keeps.
	for ((i = 0; i < 60; i++)); do
		n=$(live_any) && pcmk "$n" crm_attribute --type crm_config --name stop-all-resources --update false >/dev/null 2>&1 &&
			live_fencing_configured "$n" && break
		sleep 0.5
	done
	live_wait_promoted 240 || die "Pacemaker did not promote galera on every controller within 240 s: $(live_summary 2>&1)"
	local holder
	holder=$(live_vip_holder) || die "no VIP holder in Pacemaker's view: $(live_summary 2>&1)"
	provision_db "$holder"
	for n in "${NODES[@]}"; do
		for ((i = 0; i < 80; i++)); do
			code=$(http_code "$(node_addr "$n")")
			[[ $code == 200 ]] && break
			sleep 0.25
		done
		[[ $code == 200 ]] || die "clustercheck on $(node_name "$n") answers '$code', want 200 (log: $(node_dir "$n")/clustercheck.log)"
		out=''
		for ((i = 0; i < 40; i++)); do
			out=$(crm_over_ssh "$n" 2>&1) && [[ $out == *'<status code="0"'* ]] && break
			sleep 0.25
		done
		[[ $out == *'<status code="0"'* ]] || die "ssh $SSH_USER@$(node_addr "$n") sudo -n crm_mon failed: $(tail -3 <<<"$out")"
	done
	local v servers ok want=$((RISE * INTER / 1000 + 10))
	v=$(live_vip_holder) || die "no VIP holder in Pacemaker's view: $(live_summary 2>&1)"
	for ((i = 0; i < want * 4; i++)); do
		servers=$(live_haproxy_sock "$v" <<<"show stat" | awk -F, '$1=="mysql" && $2 ~ /^controller-/ {s=$18; gsub(/ /, "_", s); printf "%s=%s ", $2, s}') || servers=''
		ok=1
		for n in "${NODES[@]}"; do [[ $servers == *"$(node_name "$n")=UP "* ]] || ok=0; done
		((ok)) && break
		sleep 0.25
	done
	((ok)) || die "HAProxy on $(node_name "$v") (the VIP holder): mysql servers not all UP after ${want}s: $servers"
	write_sandbox_json
	log "Up in $(elapsed) ms: $(live_summary)"
}

live_down() {
	local purge=$1 n p any=''
	if any=$(live_any 2>/dev/null); then
		# Resources first, the way an operator stops a cluster: galera in order (the last
		# to leave is safe to bootstrap), then Pacemaker, then Corosync.
		pcmk "$any" crm_attribute --type crm_config --name stop-all-resources --update true >/dev/null 2>&1 || true
		local i
		# (It stays true in the CIB while Pacemaker stops, so that no node restarts what
		# another stopped; live_up sets it back.) A blocked resource never stops: 60 s at most.
		for ((i = 0; i < 60; i++)); do
			[[ $(pcmk "$any" crm_mon --one-shot --output-as=xml 2>/dev/null | grep -c 'nodes_running_on="[1-9]') == 0 ]] && break
			sleep 1
		done
		log "Resources stopped by Pacemaker in ${i} s"
	fi
	# All Pacemakers at once, then all Corosyncs: bounded; power_off below ends the rest.
	live_stop_all pacemakerd 30
	live_stop_all corosync 10
	for n in "${NODES[@]}"; do
		live_power_off "$n"
	done
	stop_pidfile "$STATE/fencebmc.pid" fencebmc 5
	((purge)) || return 0
	rm -f /usr/sbin/fence_ocb
	for n in "${NODES[@]}"; do
		rm -rf "$(node_dir "$n")/pacemaker" "$(node_dir "$n")/corosync-lib"
	done
}

# live_stop_all COMM SECONDS: SIGTERM to COMM on every controller at once, and a bounded wait.
live_stop_all() {
	local comm=$1 secs=$2 n p pids=() i
	for n in "${NODES[@]}"; do
		p=$(live_daemon_pid "$(node_dir "$n")/$comm.pid" "$comm") && pids+=("$p")
	done
	((${#pids[@]})) || return 0
	kill -CONT "${pids[@]}" 2>/dev/null || true
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		for p in "${pids[@]}"; do pid_alive "$p" && [[ $(pid_state "$p") != Z ]] && continue 2; done
		log "Stopped $comm on every controller"
		return 0
	done
	log "$comm still running after ${secs}s on some controller: its power-off ends it"
}

live_locked() {
	ensure_root
	load_mode
	live_cmd "$@"
}

# live_cmd: the commands only the live cluster has, and the live forms of the others.
live_cmd() {
	local cmd=$1 n=${2:-} any p
	case $cmd in
	standby | unstandby)
		check_node "$n"
		any=$(live_any) || die "no controller's Pacemaker has quorum"
		pcmk "$any" crm_attribute --node "$(node_name "$n")" --name standby --update "$([[ $cmd == standby ]] && echo on || echo off)"
		log "$(node_name "$n"): $cmd"
		;;
	maintenance)
		[[ $n == on || $n == off ]] || die "maintenance on|off"
		any=$(live_any) || die "no controller's Pacemaker has quorum"
		pcmk "$any" crm_attribute --type crm_config --name maintenance-mode --update "$([[ $n == on ]] && echo true || echo false)"
		log "maintenance-mode $n"
		;;
	cleanup)
		any=$(live_any) || die "no controller's Pacemaker has quorum"
		pcmk "$any" crm_resource --cleanup >/dev/null
		log "Failures cleaned up"
		;;
	fencing)
		# broken: the power controller stops answering, as an unreachable BMC does, so a
		# controller lost to Corosync stays UNCLEAN (Pacemaker retries the fence); working:
		# it answers again, and the next retry fences.
		case $n in
		broken)
			stop_pidfile "$STATE/fencebmc.pid" fencebmc 5
			log "fencing broken: the power controller is down"
			;;
		working)
			live_fencing_up
			log "fencing working: the power controller answers on $HOST_IP:$FENCE_PORT"
			;;
		*) die "fencing broken|working" ;;
		esac
		;;
	stop-galera | start-galera)
		any=$(live_any) || die "no controller's Pacemaker has quorum"
		pcmk "$any" crm_resource --resource galera-clone --meta --set-parameter target-role \
			--parameter-value "$([[ $cmd == stop-galera ]] && echo Stopped || echo Started)" >/dev/null
		log "galera-clone: target-role $([[ $cmd == stop-galera ]] && echo Stopped || echo Started)"
		;;
	freeze-corosync | thaw-corosync)
		check_node "$n"
		if ! p=$(live_daemon_pid "$(node_dir "$n")/corosync.pid" corosync); then
			# Fenced meanwhile (powered off and on): its Corosync is a new one, not frozen.
			[[ $cmd == thaw-corosync ]] || die "corosync is not running on $(node_name "$n")"
			log "corosync on $(node_name "$n") is not the frozen one any more (fenced: powered off and on)"
			return 0
		fi
		if [[ $cmd == freeze-corosync ]]; then
			kill -STOP "$p"
			log "Froze corosync on $(node_name "$n") (pid $p)"
		else
			kill -CONT "$p"
			kill -CONT "$(cat "$(node_dir "$n")/corosync.pid.nsenter" 2>/dev/null)" 2>/dev/null || true
			log "Thawed corosync on $(node_name "$n") (pid $p)"
		fi
		;;
	power-off)
		check_node "$n"
		live_power_off "$n"
		;;
	power-on)
		check_node "$n"
		live_power_on "$n"
		log "Powered on $(node_name "$n")"
		;;
	kill | pause | resume)
		check_node "$n"
		p=$(live_pid_in "$n" mariadbd | head -1)
		[[ -n $p ]] || die "no mariadbd runs on $(node_name "$n")"
		case $cmd in
		kill) kill -KILL "$p" ;;
		pause) kill -STOP "$p" ;;
		resume) kill -CONT "$p" ;;
		esac
		log "$cmd: mariadbd of $(node_name "$n") (host pid $p)"
		;;
	start)
		# Pacemaker restarts a killed mariadbd itself (its monitor notices within 10 s):
		# `start` waits for that, as a person would.
		# Pacemaker may not have noticed yet (crm_mon still says Promoted for up to a monitor
		# interval after a kill): wait for all three together, a running mariadbd, Synced, and
		# galera Promoted everywhere.
		# A controller fenced while its Pacemaker ran (a frozen Corosync thawed just before the
		# fence's retry) can come back powered on with its cluster stack stopped: Pacemaker
		# stops itself on hearing it was fenced. After 5 s of that, its daemons are started
		# again, as `pcs cluster start` would.
		check_node "$n"
		local start=$SECONDS w='' stackless=0
		while :; do
			if live_holder "$n" >/dev/null &&
				! { live_daemon_pid "$(node_dir "$n")/corosync.pid" corosync >/dev/null &&
					live_daemon_pid "$(node_dir "$n")/pacemakerd.pid" pacemakerd >/dev/null; }; then
				if ((++stackless >= 5)); then
					log "$(node_name "$n") is powered on without Corosync or Pacemaker: starting them"
					live_power_on "$n"
					stackless=0
				fi
			else
				stackless=0
			fi
			if mysqld_pid "$n" >/dev/null && w=$(wsrep "$n" 2>/dev/null) && [[ ${w%% *} == 4 ]] && live_all_promoted; then
				log "$(node_name "$n") runs, Synced, galera Promoted everywhere ($((SECONDS - start)) s)"
				break
			fi
			((SECONDS - start < 240)) || die "$(node_name "$n") not back within 240 s (wsrep: ${w:-no answer}): $(live_summary 2>&1)"
			sleep 1
		done
		;;
	crm)
		live_summary
		;;
	pid)
		# pid N COMM: the host PID of COMM (mariadbd, haproxy...) in controller N, for the
		# benchmarks that pin or measure it (a PID file inside holds the namespace's own PID).
		check_node "$n"
		[[ ${3:-} =~ ^[a-z][a-z_.-]{0,14}$ ]] || die "usage: pid N COMM"
		p=$(live_pid_in "$n" "$3" | head -1)
		[[ -n $p ]] || die "no $3 runs on $(node_name "$n")"
		echo "$p"
		;;
	vip)
		# The controller Pacemaker runs the VIP on.
		p=$(live_vip_holder) || die "no controller holds the VIP (crm: $(live_summary 2>&1))"
		node_name "$p"
		;;
	crm-mon)
		# crm_mon's own view, as a person reads it on a controller: of controller N, else
		# of the first whose Pacemaker has quorum.
		if [[ -z $n ]]; then
			n=$(live_any) || die "no controller's Pacemaker has quorum"
		else
			check_node "$n"
		fi
		pcmk "$n" crm_mon --one-shot --inactive --include=none,summary,nodes,resources,failures ||
			die "crm_mon on $(node_name "$n") failed"
		;;
	*) return 1 ;;
	esac
}

live_status() {
	local n bad=0 line code p
	for n in "${NODES[@]}"; do
		line="$(printf '%-13s %-12s %-11s' "$(node_name "$n")" "$(node_ns "$n")" "$(node_addr "$n")")"
		if ! p=$(live_holder "$n"); then
			echo "$line powered off"
			bad=1
			continue
		fi
		for what in corosync pacemakerd clustercheck sshd; do
			if p=$(live_daemon_pid "$(node_dir "$n")/$what.pid" "$what"); then
				line+=" $what=$p"
			else
				line+=" $what=DOWN"
				bad=1
			fi
		done
		p=$(live_pid_in "$n" mariadbd | head -1)
		line+=" mariadbd=${p:-DOWN}"
		code=$(http_code "$(node_addr "$n")")
		line+=" clustercheck:9200=$code"
		[[ $code == 200 ]] || bad=1
		echo "$line"
	done
	echo "pacemaker     $(live_summary 2>&1 || true)"
	live_all_promoted || bad=1
	route_check || bad=1
	return "$bad"
}
