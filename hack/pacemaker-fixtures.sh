#!/usr/bin/env bash
# pacemaker-fixtures.sh regenerates internal/pacemaker/testdata/ from Pacemaker's own tools.
#
#   hack/pacemaker-fixtures.sh              # needs Debian's pacemaker-cli-utils, faketime, xsltproc
#   KEEP_WORK=1 hack/pacemaker-fixtures.sh  # keeps the scratch directory (pass logs, graphs)
#
# Nothing in testdata/cib or testdata/crm_mon is typed by hand (one documented exception, pcmk11-*,
# below). For each layout the script writes the CONFIGURATION with cibadmin/crm_attribute/crm_resource
# on a CIB_file copy of `cibadmin --empty`, then lets `crm_simulate -S` run the cluster until it has
# nothing left to do: every line of the STATUS section is crm_simulate's. Each state is a copy of the
# healthy CIB plus one event (crm_standby, crm_simulate --node-down/--node-fail/--op-inject, a
# crm_resource --ban, maintenance attributes), settled again with crm_simulate. Then
#   cib/<layout>-<state>.xml           the full CIB (configuration + status)
#   crm_mon/<layout>-<state>.xml       CIB_file=cib/... crm_mon --one-shot --inactive --output-as=xml
#   crm_mon/legacy-<layout>-<state>.xml  CIB_file=cib/... crm_mon --as-xml --inactive  (<crm_mon version=>)
#   crm_mon/error-*.xml + .rc          real failures of crm_mon, with its exit code
#   crm_mon/pcmk11-*.xml               THE ONLY NON-RAW FIXTURES: pacemaker 1.1.x cannot run here, so
#                                      the XSLT at the end of this script converts real legacy outputs
#                                      into 1.1's spelling (Master/Slave roles, docker bundles,
#                                      resource_agent="ocf::heartbeat:galera", version="1.1.23"), for
#                                      bundle-healthy, bundle-galera-demoted, clone-galera-demoted.
#
# Layouts (nodes controller-0..2; the database VIP is ip-10.77.0.10, another VIP ip-10.77.1.10):
#   bundle  TripleO today: galera-bundle (podman, 3 replicas, promoted-max 3, ocf:heartbeat:galera
#           inside, container-attribute-target=host), haproxy-bundle (podman, 3 replicas), two IPaddr2
#           VIPs colocated with haproxy-bundle, fence_ipmilan devices, TripleO-style rules on
#           galera-role/haproxy-role node attributes.
#   clone   the older layout: galera-master (promotable clone of ocf:heartbeat:galera, promoted-max 3),
#           haproxy-clone (systemd:haproxy), the same VIPs and fence devices.
#   remote  composable roles: galera-bundle on pacemaker remote nodes database-0..2 (healthy only).
# States (the "victim" is controller-1 for galera states, controller-2 for node states):
#   healthy, vip-standby (controller-0, the VIP holder, in standby), node-offline (clean shutdown),
#   node-unclean (node lost, fencing not yet done: the snapshot crm_simulate saves before acting),
#   galera-demoted (its promotion score removed), galera-stopped (crm_resource --ban),
#   galera-failed (monitor failure injected, recovery start fails: "FAILED Promoted"),
#   node-maintenance (node attribute maintenance=true), cluster-maintenance (maintenance-mode=true).
# cib/bundle-healthy.xml is also the default CIB of the local sandbox's controller-0/1/2 (VIP on
# controller-0, like the sandbox's HAProxy placement).
#
# Facts found while writing this (pacemaker 2.1.5):
#   - crm_simulate adds every bundle guest (galera-bundle-N) to <nodes> as if it were a cluster
#     member; we delete those entries after each pass, or they stay configured as OFFLINE members.
#   - nothing is promoted until the promotion score attribute master-galera is set on each host,
#     as the galera agent would (crm_attribute --lifetime reboot; with container-attribute-target=host
#     it lives on the host, not on the guest).
#   - crm_mon --as-xml still exists in 2.1.5; it prints the same document under <crm_mon version=
#     "2.1.5"> and already says Promoted/Unpromoted (not Master/Slave).
#   - crm_mon's exit code is 0 for a missing or unreadable CIB: only <errors> tells; "no cluster"
#     (no CIB_file, no pacemakerd) is exit 102 with <status code="102" message="Not connected">.
#   - a clean shutdown of a bundle host leaves its galera "FAILED Promoted" with active="false" and no
#     host (node-offline); an unclean one shows "FAILED Promoted controller-2 (UNCLEAN)".
#   - blocked starts leave pseudo actions in every transition graph, and maintenance re-schedules
#     monitor cancellations on every pass: "settled" means no real action is left (see settle).
#   - timestamps come from the clock: crm_simulate and crm_mon run under libfaketime at a fixed,
#     advancing time, so a second run rewrites identical files (idempotent, diff-clean; checked).
#
# Tool versions used for the committed files: pacemaker 2.1.5 (Build: a3f44794f94, Debian
# 2.1.5-1+deb12u1), libfaketime 0.9.10, xsltproc/libxslt 1.1.35 (Debian 12). Regeneration takes
# about 15 s on the 2-core dev machine (14-28 s measured, the longer while other builds ran).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX=pacemaker-fixtures
# shellcheck source=hack/lib.sh
source "$ROOT/hack/lib.sh"
OUT="${ROOT}/internal/pacemaker/testdata"

for tool in crm_simulate crm_mon cibadmin crm_attribute crm_resource crm_standby xsltproc runuser; do
  command -v "$tool" >/dev/null || { echo "pacemaker-fixtures: $tool missing: apt-get install pacemaker-cli-utils faketime xsltproc" >&2; exit 1; }
done
[ -r /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || { echo "pacemaker-fixtures: libfaketime missing: apt-get install faketime" >&2; exit 1; }

export TZ=UTC LC_ALL=C
unset CIB_file CIB_shadow || true
WORK="$(mktemp -d)"
chmod 755 "$WORK" # the unreadable-CIB case runs crm_mon as nobody inside it
trap '[ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT

# A fixed clock that moves on a few seconds for every tool call, so the timestamps in the files look
# like a cluster's and stay the same from one run to the next.
CLOCK=1767607200 # 2026-01-05 10:00:00 UTC
# libfaketime is preloaded directly into each Pacemaker binary: the faketime wrapper (and libfaketime
# in any process that execs another: env, runuser, shell scripts) leaves a segment in /dev/shm, and
# fails once a leaked name comes round again with a reused PID.
LIBFAKETIME=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
pcmk() {
  CLOCK=$((CLOCK + 3))
  LD_PRELOAD="$LIBFAKETIME" FAKETIME="$(date -u -d "@${CLOCK}" "+%Y-%m-%d %H:%M:%S")" "$@"
}
log() { printf 'pacemaker-fixtures: %s\n' "$*" >&2; }

# drop_guests removes the bundle guests that crm_simulate adds to <nodes> (see header).
drop_guests() {
  CIB_file="$1" cibadmin --delete-all --force --xpath "/cib/configuration/nodes/node[contains(@id,'-bundle-')]" >/dev/null 2>&1 || true
}

# simulate FILE [crm_simulate event options...]: one pass of crm_simulate -S, result written back.
simulate() {
  local f="$1"; shift
  pcmk crm_simulate -x "$f" "$@" -S -O "$f.next" >"$f.log" 2>&1 || { cat "$f.log" >&2; return 1; }
  mv "$f.next" "$f"
  drop_guests "$f"
}

# settle FILE: run passes until the scheduler's transition graph has no real action left (blocked
# starts leave pseudo actions behind forever, and in maintenance the cancellation of recurring
# monitors is scheduled again on every pass of the simulator).
settle() {
  local f="$1" i
  for i in $(seq 1 12); do
    rm -f "$f.graph"
    pcmk crm_simulate -x "$f" -R -G "$f.graph" >"$f.log" 2>&1 || { cat "$f.log" >&2; return 1; }
    # (awk, not grep -q in a pipe: with pipefail, grep -q's early exit would read as "no action")
    if [ "$(awk '/<(rsc_op|crm_event)/ && !/operation="cancel"/ {n++} END {print n+0}' "$f.graph")" = 0 ]; then
      return 0
    fi
    simulate "$f"
  done
  echo "pacemaker-fixtures: $f did not settle" >&2
  return 1
}

# --- configuration -----------------------------------------------------------------------------

# Configuration edits carry no timestamps, so they run without the fake clock (crm_standby is a
# shell script, and libfaketime leaks a /dev/shm segment for every process that execs another).
cib() { CIB_file="$CIB" "$@" >/dev/null; }

base_config() { # CIB path, member node names...
  CIB="$1"; shift
  cibadmin --empty >"$CIB"
  cib cibadmin --modify --xml-text '<cib dc-uuid="1"/>'
  cib crm_attribute --type crm_config --name cluster-infrastructure --update corosync
  cib crm_attribute --type crm_config --name cluster-name --update tripleo_cluster
  cib crm_attribute --type crm_config --name dc-version --update "2.1.5-a3f44794f94"
  cib crm_attribute --type crm_config --name stonith-enabled --update true
  local id=1 n
  for n in "$@"; do
    cib cibadmin --create -o nodes --xml-text "<node id=\"${id}\" uname=\"${n}\"/>"
    cib crm_attribute --type nodes --node "$n" --name haproxy-role --update true
    id=$((id + 1))
  done
}

# fence_devices: one fence_ipmilan device per member, kept off the node it fences (as TripleO does).
fence_devices() {
  local n mac i=0
  for n in "$@"; do
    mac="525400aa000${i}"
    cib cibadmin --create -o resources --xml-text "<primitive class=\"stonith\" id=\"stonith-fence_ipmilan-${mac}\" type=\"fence_ipmilan\">
      <instance_attributes id=\"stonith-fence_ipmilan-${mac}-instance_attributes\">
        <nvpair id=\"stonith-fence_ipmilan-${mac}-instance_attributes-pcmk_host_list\" name=\"pcmk_host_list\" value=\"${n}\"/>
        <nvpair id=\"stonith-fence_ipmilan-${mac}-instance_attributes-lanplus\" name=\"lanplus\" value=\"true\"/>
      </instance_attributes>
      <operations><op id=\"stonith-fence_ipmilan-${mac}-monitor-interval-60s\" interval=\"60s\" name=\"monitor\"/></operations>
    </primitive>"
    cib cibadmin --create -o constraints --xml-text "<rsc_location id=\"location-stonith-fence_ipmilan-${mac}-${n}--INFINITY\" node=\"${n}\" rsc=\"stonith-fence_ipmilan-${mac}\" score=\"-INFINITY\"/>"
    i=$((i + 1))
  done
}

# vips: the database VIP prefers controller-0 (so the healthy state has it there), the other
# controller-1; both follow haproxy like TripleO's colocation + order constraints.
vips() {
  local haproxy="$1" ip pref
  for ip in 10.77.0.10:controller-0 10.77.1.10:controller-1; do
    pref="${ip#*:}"; ip="${ip%%:*}"
    cib cibadmin --create -o resources --xml-text "<primitive class=\"ocf\" id=\"ip-${ip}\" provider=\"heartbeat\" type=\"IPaddr2\">
      <instance_attributes id=\"ip-${ip}-instance_attributes\">
        <nvpair id=\"ip-${ip}-instance_attributes-cidr_netmask\" name=\"cidr_netmask\" value=\"32\"/>
        <nvpair id=\"ip-${ip}-instance_attributes-ip\" name=\"ip\" value=\"${ip}\"/>
      </instance_attributes>
      <meta_attributes id=\"ip-${ip}-meta_attributes\"><nvpair id=\"ip-${ip}-meta_attributes-resource-stickiness\" name=\"resource-stickiness\" value=\"INFINITY\"/></meta_attributes>
      <operations>
        <op id=\"ip-${ip}-monitor-interval-10s\" interval=\"10s\" name=\"monitor\" timeout=\"20s\"/>
        <op id=\"ip-${ip}-start-interval-0s\" interval=\"0s\" name=\"start\" timeout=\"20s\"/>
        <op id=\"ip-${ip}-stop-interval-0s\" interval=\"0s\" name=\"stop\" timeout=\"20s\"/>
      </operations>
    </primitive>"
    cib cibadmin --create -o constraints --xml-text "<rsc_location id=\"location-ip-${ip}\" resource-discovery=\"exclusive\" rsc=\"ip-${ip}\">
      <rule id=\"location-ip-${ip}-rule\" score=\"0\"><expression attribute=\"haproxy-role\" id=\"location-ip-${ip}-rule-expr\" operation=\"eq\" value=\"true\"/></rule>
    </rsc_location>"
    cib cibadmin --create -o constraints --xml-text "<rsc_location id=\"location-ip-${ip}-${pref}-100\" node=\"${pref}\" rsc=\"ip-${ip}\" score=\"100\"/>"
    cib cibadmin --create -o constraints --xml-text "<rsc_colocation id=\"colocation-ip-${ip}-${haproxy}-INFINITY\" rsc=\"ip-${ip}\" score=\"INFINITY\" with-rsc=\"${haproxy}\"/>"
    cib cibadmin --create -o constraints --xml-text "<rsc_order first=\"ip-${ip}\" first-action=\"start\" id=\"order-ip-${ip}-${haproxy}-Optional\" kind=\"Optional\" then=\"${haproxy}\" then-action=\"start\"/>"
  done
}

galera_primitive() { # extra meta nvpairs
  cat <<EOF
<primitive class="ocf" id="galera" provider="heartbeat" type="galera">
  <instance_attributes id="galera-instance_attributes">
    <nvpair id="galera-instance_attributes-additional_parameters" name="additional_parameters" value="--open-files-limit=16384"/>
    <nvpair id="galera-instance_attributes-enable_creation" name="enable_creation" value="true"/>
    <nvpair id="galera-instance_attributes-log" name="log" value="/var/log/mysql/mysqld.log"/>
    <nvpair id="galera-instance_attributes-wsrep_cluster_address" name="wsrep_cluster_address" value="gcomm://$1"/>
  </instance_attributes>
  <meta_attributes id="galera-meta_attributes">$2</meta_attributes>
  <operations>
    <op id="galera-demote-interval-0s" interval="0s" name="demote" timeout="120s"/>
    <op id="galera-monitor-interval-10s" interval="10s" name="monitor" role="Promoted" timeout="30s"/>
    <op id="galera-monitor-interval-30s" interval="30s" name="monitor" role="Unpromoted" timeout="30s"/>
    <op id="galera-promote-interval-0s" interval="0s" name="promote" on-fail="block" timeout="300s"/>
    <op id="galera-start-interval-0s" interval="0s" name="start" timeout="120s"/>
    <op id="galera-stop-interval-0s" interval="0s" name="stop" timeout="120s"/>
  </operations>
</primitive>
EOF
}

role_rule() { # resource, attribute
  cib cibadmin --create -o constraints --xml-text "<rsc_location id=\"location-$1\" resource-discovery=\"exclusive\" rsc=\"$1\">
    <rule id=\"location-$1-rule\" score=\"0\"><expression attribute=\"$2\" id=\"location-$1-rule-expr\" operation=\"eq\" value=\"true\"/></rule>
  </rsc_location>"
}

galera_bundle() { # galera hosts...
  local hosts; hosts="$(IFS=,; echo "$*")"
  cib cibadmin --create -o resources --xml-text "<bundle id=\"galera-bundle\">
    <podman image=\"cluster.common.tag/openstack-mariadb:pcmklatest\" network=\"host\" options=\"--user=root --log-driver=k8s-file --log-opt path=/var/log/containers/stdouts/galera-bundle.log -e KOLLA_CONFIG_STRATEGY=COPY_ALWAYS\" promoted-max=\"3\" replicas=\"3\" run-command=\"/bin/bash /usr/local/bin/kolla_start\"/>
    <network control-port=\"3123\"/>
    <storage>
      <storage-mapping id=\"mysql-cfg-files\" options=\"ro\" source-dir=\"/var/lib/kolla/config_files/mysql.json\" target-dir=\"/var/lib/kolla/config_files/config.json\"/>
      <storage-mapping id=\"mysql-lib\" options=\"rw,z\" source-dir=\"/var/lib/mysql\" target-dir=\"/var/lib/mysql\"/>
    </storage>
    $(galera_primitive "$hosts" '<nvpair id="galera-meta_attributes-container-attribute-target" name="container-attribute-target" value="host"/><nvpair id="galera-meta_attributes-master-max" name="master-max" value="3"/><nvpair id="galera-meta_attributes-ordered" name="ordered" value="true"/>')
  </bundle>"
  role_rule galera-bundle galera-role
}

haproxy_bundle() {
  cib cibadmin --create -o resources --xml-text '<bundle id="haproxy-bundle">
    <podman image="cluster.common.tag/openstack-haproxy:pcmklatest" network="host" options="--user=root --log-driver=k8s-file -e KOLLA_CONFIG_STRATEGY=COPY_ALWAYS" replicas="3" run-command="/bin/bash /usr/local/bin/kolla_start"/>
    <storage>
      <storage-mapping id="haproxy-cfg-files" options="ro" source-dir="/var/lib/kolla/config_files/haproxy.json" target-dir="/var/lib/kolla/config_files/config.json"/>
    </storage>
  </bundle>'
  role_rule haproxy-bundle haproxy-role
}

# promote_scores sets what the galera agent sets once a node may be promoted.
promote_scores() {
  local n
  for n in "$@"; do
    cib crm_attribute --node "$n" --name master-galera --update 100 --lifetime reboot
  done
}

# bring_up FILE nodes...: first passes (nodes join, quorum), then settle.
bring_up() {
  local f="$1"; shift
  local up=() n
  for n in "$@"; do up+=(-u "$n"); done
  simulate "$f" "${up[@]}" -q 1
  settle "$f"
}

CONTROLLERS=(controller-0 controller-1 controller-2)

build_bundle() {
  base_config "$1" "${CONTROLLERS[@]}"
  for n in "${CONTROLLERS[@]}"; do cib crm_attribute --type nodes --node "$n" --name galera-role --update true; done
  galera_bundle "${CONTROLLERS[@]}"
  haproxy_bundle
  vips haproxy-bundle
  fence_devices "${CONTROLLERS[@]}"
  bring_up "$1" "${CONTROLLERS[@]}"
  promote_scores "${CONTROLLERS[@]}"
  settle "$1"
}

build_clone() {
  base_config "$1" "${CONTROLLERS[@]}"
  for n in "${CONTROLLERS[@]}"; do cib crm_attribute --type nodes --node "$n" --name galera-role --update true; done
  local hosts; hosts="$(IFS=,; echo "${CONTROLLERS[*]}")"
  cib cibadmin --create -o resources --xml-text "<clone id=\"galera-master\">
    $(galera_primitive "$hosts" '')
    <meta_attributes id=\"galera-master-meta_attributes\">
      <nvpair id=\"galera-master-meta_attributes-promotable\" name=\"promotable\" value=\"true\"/>
      <nvpair id=\"galera-master-meta_attributes-promoted-max\" name=\"promoted-max\" value=\"3\"/>
      <nvpair id=\"galera-master-meta_attributes-ordered\" name=\"ordered\" value=\"true\"/>
      <nvpair id=\"galera-master-meta_attributes-interleave\" name=\"interleave\" value=\"true\"/>
    </meta_attributes>
  </clone>"
  role_rule galera-master galera-role
  cib cibadmin --create -o resources --xml-text '<clone id="haproxy-clone">
    <primitive class="systemd" id="haproxy" type="haproxy">
      <operations><op id="haproxy-monitor-interval-60s" interval="60s" name="monitor"/></operations>
    </primitive>
  </clone>'
  role_rule haproxy-clone haproxy-role
  vips haproxy-clone
  fence_devices "${CONTROLLERS[@]}"
  bring_up "$1" "${CONTROLLERS[@]}"
  promote_scores "${CONTROLLERS[@]}"
  settle "$1"
}

# remote: database-0..2 are pacemaker remote nodes (their connection resources run on the
# controllers); galera-bundle runs only on them.
build_remote() {
  base_config "$1" "${CONTROLLERS[@]}"
  local n
  for n in database-0 database-1 database-2; do
    cib cibadmin --create -o nodes --xml-text "<node id=\"${n}\" type=\"remote\" uname=\"${n}\"/>"
    cib crm_attribute --type nodes --node "$n" --name galera-role --update true
    cib cibadmin --create -o resources --xml-text "<primitive class=\"ocf\" id=\"${n}\" provider=\"pacemaker\" type=\"remote\">
      <instance_attributes id=\"${n}-instance_attributes\">
        <nvpair id=\"${n}-instance_attributes-reconnect_interval\" name=\"reconnect_interval\" value=\"60\"/>
        <nvpair id=\"${n}-instance_attributes-server\" name=\"server\" value=\"${n}.internalapi.localdomain\"/>
      </instance_attributes>
      <operations><op id=\"${n}-monitor-interval-20\" interval=\"20\" name=\"monitor\"/></operations>
    </primitive>"
  done
  galera_bundle database-0 database-1 database-2
  haproxy_bundle
  vips haproxy-bundle
  fence_devices "${CONTROLLERS[@]}"
  bring_up "$1" "${CONTROLLERS[@]}"
  promote_scores database-0 database-1 database-2
  settle "$1"
}

# --- states --------------------------------------------------------------------------------------

# state LAYOUT NAME: copies the layout's healthy CIB to $WORK/LAYOUT-NAME.xml and applies NAME.
state() {
  local layout="$1" name="$2" f="$WORK/$1-$2.xml" guest1 bundle_or_clone
  cp "$WORK/$layout-healthy.xml" "$f"
  CIB="$f"
  if [ "$layout" = clone ]; then guest1=controller-1; bundle_or_clone=galera-master
  else guest1=galera-bundle-1; bundle_or_clone=galera-bundle; fi
  case "$name" in
    vip-standby)
      cib crm_standby --node controller-0 --update on
      settle "$f" ;;
    node-offline)
      simulate "$f" --node-down controller-2
      settle "$f" ;;
    node-unclean)
      # The node is lost and not yet fenced: save the injected state before the scheduler acts.
      pcmk crm_simulate -x "$f" --node-fail controller-2 -R -O "$f.next" >"$f.log" 2>&1
      mv "$f.next" "$f"; drop_guests "$f" ;;
    galera-demoted)
      cib crm_attribute --node controller-1 --name master-galera --delete --lifetime reboot
      settle "$f" ;;
    galera-stopped)
      cib crm_resource --ban --resource "$bundle_or_clone" --node controller-1
      settle "$f" ;;
    galera-failed)
      # The promoted monitor fails, and so does the start of the recovery: the transition stops
      # there and galera stays FAILED on controller-1.
      simulate "$f" --op-inject "galera_monitor_10000@${guest1}=1" --op-fail "galera_start_0@${guest1}=1" ;;
    node-maintenance)
      cib crm_attribute --type nodes --node controller-2 --name maintenance --update true
      settle "$f" ;;
    cluster-maintenance)
      cib crm_attribute --type crm_config --name maintenance-mode --update true
      settle "$f" ;;
    *) echo "unknown state $name" >&2; return 1 ;;
  esac
}

STATES=(vip-standby node-offline node-unclean galera-demoted galera-stopped galera-failed node-maintenance cluster-maintenance)
start=$(date +%s)
rm -rf "$OUT/cib" "$OUT/crm_mon"
mkdir -p "$OUT/cib" "$OUT/crm_mon"

for layout in bundle clone remote; do
  log "layout $layout"
  "build_$layout" "$WORK/$layout-healthy.xml"
  if [ "$layout" != remote ]; then
    for s in "${STATES[@]}"; do state "$layout" "$s"; done
  fi
done

for f in "$WORK"/*.xml; do
  name="$(basename "$f" .xml)"
  # Pretty-printed as Pacemaker writes it; the CIB is what `cibadmin --query` would return.
  CIB_file="$f" cibadmin --query >"$OUT/cib/$name.xml"
  CIB_file="$OUT/cib/$name.xml" pcmk crm_mon --one-shot --inactive --output-as=xml >"$OUT/crm_mon/$name.xml"
  CIB_file="$OUT/cib/$name.xml" pcmk crm_mon --as-xml --inactive >"$OUT/crm_mon/legacy-$name.xml"
done

# Real failures. crm_mon writes its XML on stdout and says 0 for the first three. (No timestamps in
# these, so no fake clock.)
errcase() { # name, then the command
  local name="$1" rc=0; shift
  "$@" >"$OUT/crm_mon/error-$name.xml" 2>/dev/null || rc=$?
  echo "$rc" >"$OUT/crm_mon/error-$name.rc"
}
errcase missing-cib env CIB_file="$WORK/no-such-cib.xml" crm_mon --one-shot --inactive --output-as=xml
errcase legacy-missing-cib env CIB_file="$WORK/no-such-cib.xml" crm_mon --as-xml --inactive
install -m 0600 "$OUT/cib/bundle-healthy.xml" "$WORK/private-cib.xml"
errcase unreadable-cib runuser -u nobody -- env CIB_file="$WORK/private-cib.xml" crm_mon --one-shot --inactive --output-as=xml
if pgrep -x pacemakerd >/dev/null; then
  log "pacemakerd is running here: error-no-cluster.xml not regenerated"
else
  errcase no-cluster crm_mon --one-shot --inactive --output-as=xml
fi

# The non-raw fixtures (see header): 1.1 spelling of real legacy outputs. What changes, from memory
# of 1.1.x's crm_mon --as-xml: version 1.1.23, roles Master/Slave, agents spelled "ocf::heartbeat:X",
# docker instead of podman, no health/feature_set/mixed_version attributes.
XSL="$WORK/pcmk11.xsl"
cat >"$XSL" <<'XSLT'
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" indent="no" omit-xml-declaration="yes"/>
  <xsl:template name="podman-to-docker">
    <xsl:param name="s"/>
    <xsl:choose>
      <xsl:when test="contains($s, 'podman')">
        <xsl:value-of select="concat(substring-before($s, 'podman'), 'docker')"/>
        <xsl:call-template name="podman-to-docker"><xsl:with-param name="s" select="substring-after($s, 'podman')"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
  <xsl:template match="node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy></xsl:template>
  <xsl:template match="@*">
    <xsl:attribute name="{name()}">
      <xsl:call-template name="podman-to-docker"><xsl:with-param name="s" select="."/></xsl:call-template>
    </xsl:attribute>
  </xsl:template>
  <xsl:template match="/crm_mon/@version"><xsl:attribute name="version">1.1.23</xsl:attribute></xsl:template>
  <xsl:template match="current_dc/@version"><xsl:attribute name="version">1.1.23-1.el7_9.1-9acf116022</xsl:attribute></xsl:template>
  <xsl:template match="@role[. = 'Promoted']"><xsl:attribute name="role">Master</xsl:attribute></xsl:template>
  <xsl:template match="@role[. = 'Unpromoted']"><xsl:attribute name="role">Slave</xsl:attribute></xsl:template>
  <xsl:template match="@resource_agent[starts-with(., 'ocf:')]">
    <xsl:attribute name="resource_agent">
      <xsl:call-template name="podman-to-docker"><xsl:with-param name="s" select="concat('ocf::', substring-after(., 'ocf:'))"/></xsl:call-template>
    </xsl:attribute>
  </xsl:template>
  <xsl:template match="@health|@feature_set|@mixed_version|cluster_options/@stop-all-resources|cluster_options/@stonith-timeout-ms|cluster_options/@priority-fencing-delay-ms"/>
</xsl:stylesheet>
XSLT
for name in bundle-healthy bundle-galera-demoted clone-galera-demoted; do
  {
    echo '<!-- DERIVED, not raw: the XSLT in hack/pacemaker-fixtures.sh applied to legacy-'"$name"'.xml (crm_mon 2.1.5 as-xml output) -->'
    xsltproc "$XSL" "$OUT/crm_mon/legacy-$name.xml" | sed '1{/^<?xml/d}'
  } >"$OUT/crm_mon/pcmk11-$name.xml"
done

log "wrote $(find "$OUT/cib" "$OUT/crm_mon" -type f | wc -l) files with $(( (CLOCK - 1767607200) / 3 )) crm_simulate/crm_mon runs in $(( $(date +%s) - start ))s"
