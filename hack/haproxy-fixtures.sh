#!/usr/bin/env bash
# haproxy-fixtures.sh records what a REAL HAProxy answers in the situations the operator
# must understand, into internal/haproxy/testdata/haproxy-<version>/. The parsers in
# internal/haproxy are tested against these files; nothing there is typed by hand.
#
#   hack/haproxy-fixtures.sh            # needs: haproxy, socat, curl, python3 (apt-get install haproxy socat curl)
#   OUT=/tmp/x hack/haproxy-fixtures.sh # write somewhere else
#
# It builds a TripleO-like "listen mysql" (stick on dst, all servers "backup", httpchk on a
# clustercheck port, on-marked-down shutdown-sessions) on loopback addresses only:
#   VIP          ${NET}.10:${FRONT_PORT}  (the database VIP) and :${STATS_PORT} (stats page, basic auth)
#   controller-N ${NET}.11-13:${DB_PORT}  TCP "databases" that greet with their node name
#                ${NET}.11-13:${CHECK_PORT} clustercheck look-alikes answering 200 (synced) or 503
# plus a second proxy "mysql_nocheck" (servers without checks, no stick table) and a second
# stats socket at "level user" (TripleO's default, which hides stick-table contents).
# NET defaults to 127.0.77 rather than 127.0.0 so as not to collide with other loopback
# sandboxes on the same machine; every address is checked to be on dev lo first.
#
# It drives HAProxy through: no client; one client; controller-0 desynced (503) and a new
# client failing over; controller-0 recovered; every node down; controller-1 in MAINT;
# controller-0 in DRAIN. After each step it captures `show stat`, `show table mysql` (stats
# socket) and the stats page's `;csv` export, and writes what it observed (which node each
# client reached, whether HAProxy closed it) to scenarios.log. Clients are bash /dev/tcp
# descriptors held by the script itself.
#
# Every wait is bounded; the whole run takes about 15 s. Only the PIDs this script starts
# (haproxy, one python3 helper) are stopped, by PID, on exit. The output directory is
# replaced only after a complete run.
set -euo pipefail

NET="${NET:-127.0.77}"
FRONT_PORT="${FRONT_PORT:-13306}"
DB_PORT="${DB_PORT:-23306}"
CHECK_PORT="${CHECK_PORT:-29200}"
STATS_PORT="${STATS_PORT:-11993}"
STATS_USER="admin"
STATS_PASSWORD="fixture-password"
VIP="${NET}.10"
NODES=(controller-0 controller-1 controller-2)
declare -A NODE_IP=([controller-0]="${NET}.11" [controller-1]="${NET}.12" [controller-2]="${NET}.13")

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX=haproxy-fixtures
# shellcheck source=hack/lib.sh
source "$ROOT/hack/lib.sh"

for tool in haproxy socat curl python3 ip; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install haproxy socat curl iproute2 python3)"
done

VERSION="$(haproxy -v | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p' | sed -n 1p)"
[ -n "$VERSION" ] || die "cannot read the haproxy version"
UPSTREAM_VERSION="${VERSION%%-*}" # 2.6.12-1+deb12u4 -> 2.6.12
OUT="${OUT:-${ROOT}/internal/haproxy/testdata/haproxy-${UPSTREAM_VERSION}}"

# Loopback only: refuse to send a single packet anywhere else.
for addr in "$VIP" "${NODE_IP[@]}"; do
  route="$(ip route get "$addr")"
  case "$route" in
    *" dev lo "*) ;;
    *) die "$addr is not routed via lo: $route" ;;
  esac
done

WORK="$(mktemp -d /tmp/haproxy-fixtures.XXXXXX)"
SOCK="${WORK}/stats"
HAPROXY_PID=""
HELPER_PID=""
cleanup() {
  local rc=$?
  for pid in $HAPROXY_PID $HELPER_PID; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $HAPROXY_PID $HELPER_PID; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# --- peers: clustercheck look-alikes and TCP "databases" --------------------------------
mkdir -p "${WORK}/state"
for n in "${NODES[@]}"; do echo 200 >"${WORK}/state/${n}"; done
cat >"${WORK}/peers.py" <<'PY'
# One process for all fake nodes. Health: HTTP answer whose code is read from
# state/<node> at every check (200 synced, 503 not synced), like TripleO's clustercheck.
# Database: accept, greet with the node name, hold the connection until the peer closes.
import os, socket, sys, threading

state_dir, check_port, db_port, ready_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
nodes = [a.split("=", 1) for a in sys.argv[5:]]

def listen(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(128)
    return s

def check(conn, name):
    with conn:
        conn.settimeout(2)
        data = b""
        try:
            while b"\r\n\r\n" not in data and b"\n\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        with open(os.path.join(state_dir, name)) as f:
            code = f.read().strip()
        if code == "200":
            reason, body = "OK", "Galera cluster node is synced.\r\n"
        else:
            reason, body = "Service Unavailable", "Galera cluster node is not synced.\r\n"
        msg = ("HTTP/1.1 %s %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
               "Content-Length: %d\r\n\r\n%s" % (code, reason, len(body), body))
        try:
            conn.sendall(msg.encode())
        except OSError:
            pass

def db(conn, name):
    with conn:
        try:
            conn.sendall((name + "\n").encode())
            while conn.recv(4096):
                pass
        except OSError:
            pass

def serve(sock, handler, name):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handler, args=(conn, name), daemon=True).start()

threads = []
for name, ip in nodes:
    threads.append(threading.Thread(target=serve, args=(listen(ip, check_port), check, name), daemon=True))
    threads.append(threading.Thread(target=serve, args=(listen(ip, db_port), db, name), daemon=True))
for t in threads:
    t.start()
open(ready_file, "w").close()
threading.Event().wait()
PY
helper_args=()
for n in "${NODES[@]}"; do helper_args+=("${n}=${NODE_IP[$n]}"); done
python3 "${WORK}/peers.py" "${WORK}/state" "$CHECK_PORT" "$DB_PORT" "${WORK}/peers.ready" "${helper_args[@]}" &
HELPER_PID=$!

# poll SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds; 1 after SECONDS.
poll() {
  local secs="$1"; shift
  local i
  for ((i = 0; i < secs * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}
# wait_for DESCRIPTION SECONDS COMMAND...: like poll, but the run fails on timeout.
wait_for() {
  local desc="$1" secs="$2"; shift 2
  poll "$secs" "$@" || die "timed out after ${secs}s waiting for: $desc"
}
alive() { kill -0 "$1" 2>/dev/null || die "$2 (pid $1) exited; see above"; }
helper_ready() { alive "$HELPER_PID" "the peer helper"; test -e "${WORK}/peers.ready"; }
wait_for "peer helper ready" 10 helper_ready

# --- haproxy ----------------------------------------------------------------------------
write_config() {
  cat <<EOF
# Generated by hack/haproxy-fixtures.sh (TripleO-like; loopback addresses, short check intervals).
global
  maxconn 1000
  stats socket ${SOCK} mode 600 level admin
  # TripleO's default level (puppet-tripleo haproxy_socket_access_level): hides stick-table contents.
  stats socket ${SOCK}-user mode 600 level user

defaults
  mode tcp
  log global
  retries 3
  timeout connect 1s
  timeout check 1s
  timeout queue 2m
  timeout client 1m
  timeout server 1m

listen haproxy.stats
  bind ${VIP}:${STATS_PORT}
  mode http
  stats enable
  stats uri /
  stats auth ${STATS_USER}:${STATS_PASSWORD}

listen mysql
  bind ${VIP}:${FRONT_PORT} transparent
  option tcpka
  option httpchk
  stick on dst
  stick-table type ip size 1000
  timeout client 90m
  timeout server 90m
EOF
  local n
  for n in "${NODES[@]}"; do
    echo "  server ${n} ${NODE_IP[$n]}:${DB_PORT} backup check inter 1s fall 2 rise 2 on-marked-down shutdown-sessions port ${CHECK_PORT}"
  done
  # A second proxy: its name shares a prefix with "mysql" (the parser must filter exactly),
  # its servers have no health check ("no check") and it has no stick table.
  printf '\nlisten mysql_nocheck\n  bind %s:%s\n' "$VIP" "$((FRONT_PORT + 1))"
  for n in "${NODES[@]}"; do
    echo "  server ${n} ${NODE_IP[$n]}:${DB_PORT} backup"
  done
}
write_config >"${WORK}/haproxy.cfg"
haproxy -c -q -f "${WORK}/haproxy.cfg" || die "haproxy rejected the config"
haproxy -db -f "${WORK}/haproxy.cfg" &
HAPROXY_PID=$!
haproxy_ready() { alive "$HAPROXY_PID" "haproxy"; test -S "$SOCK"; }
wait_for "stats socket" 10 haproxy_ready

sock_cmd() { printf '%s\n' "$1" | socat -t 2 -T 5 stdio "UNIX-CONNECT:${SOCK}"; }
user_sock_cmd() { printf '%s\n' "$1" | socat -t 2 -T 5 stdio "UNIX-CONNECT:${SOCK}-user"; }

# field SERVER COLUMN: one column of mysql/SERVER from `show stat`, located by header name.
field() {
  sock_cmd "show stat" | awk -F, -v px=mysql -v sv="$1" -v want="$2" '
    NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == px && $2 == sv { print $(col[want]) }'
}
status_is() { [ "$(field "$1" status)" = "$2" ]; }
status_starts() { case "$(field "$1" status)" in "$2"*) return 0 ;; *) return 1 ;; esac; }
scur_is() { [ "$(field "$1" scur)" = "$2" ]; }
healthy() { status_is "$1" UP && [ "$(field "$1" check_status)" = L7OK ]; }
all_healthy() { local n; for n in "${NODES[@]}"; do healthy "$n" || return 1; done; }
all_down() { local n; for n in "${NODES[@]}"; do status_is "$n" DOWN || return 1; done; }
set_check() { echo "$2" >"${WORK}/state/$1"; }

# Record into a staging directory; replace $OUT only after a complete run, so a failed
# run leaves the committed fixtures alone.
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ ! -f "${OUT}/VERSION" ]; then
  die "$OUT exists and does not look like a fixture directory (no VERSION): refusing to replace it"
fi
FINAL_OUT="$OUT"
OUT="${WORK}/out"
mkdir -p "$OUT"
NOTES="${OUT}/scenarios.log"
note() { printf '%s\n' "$*" | tee -a "$NOTES" >&2; }

# capture NAME: the three views HAProxy offers, verbatim.
capture() {
  sock_cmd "show stat" >"${OUT}/$1.stat.csv"
  sock_cmd "show table mysql" >"${OUT}/$1.table.txt"
  curl -sS --fail --max-time 5 -u "${STATS_USER}:${STATS_PASSWORD}" "http://${VIP}:${STATS_PORT}/;csv" >"${OUT}/$1.http.csv"
  local n summary=""
  for n in "${NODES[@]}"; do
    summary+=" ${n}=[$(field "$n" status)|scur=$(field "$n" scur)|sid=$(field "$n" sid)]"
  done
  note "  captured $1:${summary}"
  note "    table: $(grep -v '^#' "${OUT}/$1.table.txt" | grep . | tr '\n' ' ' || true)"
}

# Clients are bash /dev/tcp descriptors held open by this script (no extra processes).
# open_client VAR: connect through the VIP, store the fd in VAR, log the greeting (= the node).
open_client() {
  local -n fdref="$1"
  local line=""
  exec {fdref}<>"/dev/tcp/${VIP}/${FRONT_PORT}"
  if read -r -t 5 -u "$fdref" line && [ -n "$line" ]; then
    note "  client $1 connected through the VIP and reached: ${line}"
  else
    note "  client $1: connection accepted by the VIP but closed without a greeting (no server)"
  fi
}
# client_state VAR: "open" or "closed by haproxy" (EOF), without blocking for long.
client_state() {
  local -n fdref="$1"
  local line rc=0
  read -r -t 0.5 -u "$fdref" line || rc=$?
  if [ "$rc" -gt 128 ]; then note "  client $1: still open"; else note "  client $1: closed by haproxy"; fi
}
close_client() { local -n fdref="$1"; exec {fdref}>&-; }

: >"$NOTES"
note "$(haproxy -v | sed -n 1p)"
note "listen mysql: all servers 'backup', 'stick on dst', 'stick-table type ip size 1000',"
note "check inter 1s fall 2 rise 2 on-marked-down shutdown-sessions (see haproxy.cfg)"
sed -e "s#${SOCK}-user#/var/lib/haproxy/stats-user#" -e "s#${SOCK}#/var/lib/haproxy/stats#" -e "s#${STATS_PASSWORD}#<password>#" "${WORK}/haproxy.cfg" >"${OUT}/haproxy.cfg"
haproxy -v | sed -n 1p >"${OUT}/VERSION"

note "01 all servers synced, no client yet"
wait_for "all servers UP with L7OK" 15 all_healthy
capture 01-all-up-no-client

note "02 one client connects through the VIP"
open_client C1
wait_for "scur 1 on controller-0" 5 scur_is controller-0 1
capture 02-one-client
# What FetchSocket sends: both commands on one line, separated by ';'.
sock_cmd "show stat;show table mysql" >"${OUT}/02-one-client.socket-combined.txt"
# The same table through a "level user" socket (TripleO's default): contents withheld.
user_sock_cmd "show table mysql" >"${OUT}/02-one-client.table-level-user.txt"
# A proxy without a stick table, and a proxy that does not exist.
sock_cmd "show table mysql_nocheck" >"${OUT}/error-no-stick-table.table.txt"
sock_cmd "show table nosuchproxy" >"${OUT}/error-no-such-proxy.table.txt"

note "03 controller-0 stops being synced (clustercheck 503)"
set_check controller-0 503
# The intermediate "UP 1/2" lasts about one check interval; record it when we see it.
if poll 5 status_starts controller-0 "UP "; then
  capture 03a-server1-going-down
else
  note "  (did not observe the transient 'UP x/y' state)"
fi
wait_for "controller-0 DOWN" 10 status_is controller-0 DOWN
client_state C1
capture 03b-server1-down
note "04 a new client connects while controller-0 is down"
open_client C2
wait_for "scur 1 on controller-1" 5 scur_is controller-1 1
capture 04-failover-new-client

note "05 controller-0 synced again (clustercheck 200)"
set_check controller-0 200
if poll 5 status_starts controller-0 "DOWN "; then
  capture 05a-server1-coming-up
else
  note "  (did not observe the transient 'DOWN x/y' state)"
fi
wait_for "controller-0 UP" 10 healthy controller-0
client_state C2
open_client C3
capture 05b-server1-recovered

note "06 every node stops being synced"
for n in "${NODES[@]}"; do set_check "$n" 503; done
wait_for "all servers DOWN" 10 all_down
client_state C2
client_state C3
open_client C4
capture 06-all-down
close_client C1
close_client C2
close_client C3
close_client C4

note "07 all synced again, then controller-1 put in maintenance (disable server mysql/controller-1)"
for n in "${NODES[@]}"; do set_check "$n" 200; done
wait_for "all servers UP with L7OK" 15 all_healthy
open_client C5
capture 07a-recovered-all-up
sock_cmd "disable server mysql/controller-1" >/dev/null
wait_for "controller-1 MAINT" 5 status_starts controller-1 MAINT
client_state C5
capture 07b-server2-maint
open_client C6
capture 07c-maint-new-client

note "08 controller-1 back from maintenance, controller-0 drained (set server mysql/controller-0 state drain)"
sock_cmd "enable server mysql/controller-1" >/dev/null
wait_for "controller-1 UP" 10 healthy controller-1
sock_cmd "set server mysql/controller-0 state drain" >/dev/null
wait_for "controller-0 DRAIN" 5 status_starts controller-0 DRAIN
client_state C6
open_client C7
capture 08-server1-drain
close_client C5
close_client C6
close_client C7

mkdir -p "$(dirname "$FINAL_OUT")"
rm -rf "${FINAL_OUT}.new"
cp -R "$OUT" "${FINAL_OUT}.new"
rm -rf "$FINAL_OUT"
mv "${FINAL_OUT}.new" "$FINAL_OUT"
log "fixtures written to ${FINAL_OUT}"
