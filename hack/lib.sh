# shellcheck shell=bash
# Helpers shared by hack/overcloud.sh and hack/kube-node.sh: messages, timing, usage, and
# the PID handling both rely on (a daemon is stopped by its recorded PID, never by name).
# Source it after setting LOG_PREFIX (the script's name in messages), STATE (its state
# directory: a PID counts as the script's own only while its command line names it) and
# PACKAGES (the Debian packages ensure_packages installs).

T0=$(date +%s%N)

# Every failure says where it happened: the script, the line, the command and its status.
# set -E makes functions inherit the trap. It prints only under errexit, so a failure the
# script handles (if, ||, &&, `|| true`) stays quiet, and only in the script's own shell: a
# failure inside a subshell, a pipeline or $(...) is reported once, by the command that ran
# it (a process substitution's status, which bash ignores, is not reported at all).
on_err() {
	local rc=$?
	[[ $- == *e* && $BASH_SUBSHELL == 0 ]] || return 0
	printf '%s: ERROR: %s line %s: "%s" exited with status %d\n' "${LOG_PREFIX:-${0##*/}}" \
		"${BASH_SOURCE[1]:-$0}" "${BASH_LINENO[0]}" "$BASH_COMMAND" "$rc" >&2
}
set -E
trap on_err ERR

log() { printf '%s: %s\n' "$LOG_PREFIX" "$*" >&2; }
die() {
	printf '%s: ERROR: %s\n' "$LOG_PREFIX" "$*" >&2
	exit 1
}
# elapsed: milliseconds since the script started.
elapsed() { echo "$((($(date +%s%N) - T0) / 1000000))"; }

# usage: the script's header comment, then exit 2.
usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
	exit 2
}

# pid_alive PID: running or stopped, not a zombie (PID 1 here reaps only every ~2 s).
pid_alive() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z && ${stat%% *} != X ]]
}

# pid_ours PID: alive and started with an argument under $STATE (guards against PID reuse).
pid_ours() {
	pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$STATE/"
}

# pid_from PIDFILE: prints the PID recorded in PIDFILE if it is alive and ours.
pid_from() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	pid_ours "$pid" || return 1
	echo "$pid"
}

# wait_gone PID SECONDS: true once PID is gone, false after SECONDS.
wait_gone() {
	local pid=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	return 1
}

# stop_pid PID WHAT SECONDS: SIGCONT and SIGTERM, a bounded wait, then SIGKILL.
stop_pid() {
	local pid=$1 what=$2 secs=$3
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$secs"; then
		log "$what (pid $pid) ignored SIGTERM for ${secs}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || die "$what (pid $pid) survives SIGKILL"
	fi
}

# ensure_packages: install the missing PACKAGES with apt (log in $STATE/apt.log). No
# package's postinst may start a host-wide daemon (mariadbd, sshd, containerd):
# policy-rc.d exit 101 forbids it, created only for the install and only if there is none.
ensure_packages() {
	local missing=() p status installed
	# One dpkg-query for all (it takes ~50 ms per call). It exits 1 when any package is not
	# installed, which is the case this function is for: its status is not an error here.
	status=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null) || true
	installed=" $(awk '$1 == "ii" {printf "%s ", $2}' <<<"$status")"
	for p in "${PACKAGES[@]}"; do
		[[ $installed == *" $p "* ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	log "Installing Debian packages: ${missing[*]}"
	local made_policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	install -d -m 0755 "$STATE"
	local rc=0 aptlog=$STATE/apt.log
	{
		apt-get -o DPkg::Lock::Timeout=600 update &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
				--no-install-recommends "${missing[@]}"
	} >"$aptlog" 2>&1 || rc=$?
	[[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
	if ((rc != 0)); then
		tail -20 "$aptlog" >&2
		die "apt-get failed (rc $rc), full log: $aptlog"
	fi
	log "Installed ${missing[*]} at $(elapsed) ms"
}
