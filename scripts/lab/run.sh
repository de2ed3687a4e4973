#!/usr/bin/env bash
# The cluster lab (`make lab`, CI runs it as root): install.sh's own role steps form real
# MariaDB Galera (galera-4, garbd) and RabbitMQ clusters across network namespaces, and the
# clusters survive node loss with nothing lost. Debian's packages provide the binaries
# (WCB_SKIP_PHASES="repo packages"); services run through lib/service.sh's direct backend.
#
#   hosts    one namespace each on bridge wcblab0, addresses only in 198.18.0.0/24
#   site A   scripts/lab/site-3db.yaml: db1-3, mq1-3, app1-2
#   site B   scripts/lab/site-arb.yaml: dba1-2 + arb1 (garbd)
#   firewall firewalld (nftables) in every host namespace, private bus each; the installer's firewall
#            phase runs for real; every flows.tsv flow probed from its allowed hosts, every cluster and
#            admin port from hosts outside its allowed set (and the `outsider` namespace)
#   faults   db-kill db-orderly-restart mq-kill db-partition mq-partition db-pause db-replace
#            mq-replace rerun power-loss, each under write load and publish load
#
# The last line printed is the summary; the JSON report's path is printed just before it.
# Environment: LAB_KEEP=1 keeps the data dirs of $LAB_DIR (logs are always kept). LAB_FAULTS="a b" runs
# only these faults (scripts/lab/mutants.sh), and the rolling upgrade (lib/rolling.sh) only when it names
# rolling-upgrade; LAB_INSTALLER=DIR bundles DIR instead of installer_stub.
set -euo pipefail

LAB_REPO="$(cd "$(dirname "$0")/../.." && pwd)"
LAB_SCRIPTS="$LAB_REPO/scripts/lab"
# shellcheck source=scripts/lab/lib/net.sh
source "$LAB_SCRIPTS/lib/net.sh"
# shellcheck source=scripts/lab/lib/hosts.sh
source "$LAB_SCRIPTS/lib/hosts.sh"
# shellcheck source=scripts/lab/lib/checks.sh
source "$LAB_SCRIPTS/lib/checks.sh"
# shellcheck source=scripts/lab/lib/fw.sh
source "$LAB_SCRIPTS/lib/fw.sh"
# shellcheck source=scripts/lab/lib/faults.sh
source "$LAB_SCRIPTS/lib/faults.sh"
# shellcheck source=scripts/lab/lib/power_loss.sh
source "$LAB_SCRIPTS/lib/power_loss.sh"
# shellcheck source=scripts/lab/lib/rolling.sh
source "$LAB_SCRIPTS/lib/rolling.sh"
# shellcheck source=scripts/lab/lib/ansible.sh
source "$LAB_SCRIPTS/lib/ansible.sh"

die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
[[ "$(id -u)" == 0 ]] || die "run it as root (network namespaces, bridge, daemons as mysql/rabbitmq)"
for t in ip unshare setpriv ss mariadbd mariadb mariadb-install-db mariabackup garbd javac jar python3 rsync socat \
  nft firewalld firewall-cmd dbus-daemon; do
  command -v "$t" >/dev/null || die "missing tool: $t (make sysdeps)"
done
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || die "rabbitmq-server is not installed (make sysdeps)"
if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
  die "bridge $LAB_BRIDGE exists: another lab runs, or a crashed one left it (ip link del $LAB_BRIDGE)"
fi

# the host's own ruleset, compared after teardown: the lab's firewalls live in the namespaces only
HOST_RULESET_BEFORE="$(lab_fw_host_ruleset)"
LAB_DIR="$(mktemp -d /tmp/wcb-lab.XXXXXX)"
chmod 0755 "$LAB_DIR"
cd "$LAB_DIR"    # every lab process runs from here, never from the caller's directory
mkdir -p "$LAB_DIR/logs"
RESULTS="$LAB_DIR/results.tsv"
REPORT="$LAB_DIR/report.json"
: >"$RESULTS"
LAB_FAILS=0
LAB_T0=$SECONDS
FAULTS_OK=0
FAULTS_TOTAL=10
FW_ALLOWED=0
FW_ALLOWED_OK=0
FW_DENIED=0
FW_DENIED_OK=0
SST_METHODS=""
ROWS_LOST=0
MSGS_LOST=0
GALERA_SYNCED=0
GALERA_TOTAL=5
ARB=FAILED
MQ_GOOD=0
LAB_SUMMARY_DONE=0
declare -A LAB_BUNDLE_OF=()

# lab_bundle_of HOST: the extracted bundle HOST installs from
lab_bundle_of() { printf '%s\n' "${LAB_BUNDLE_OF[$1]}"; }

# lab_result KEY VALUE: one line of the JSON report
lab_result() { printf '%s\t%s\n' "$1" "${2//$'\n'/ }" >>"$RESULTS"; }

# lab_check NAME 0|1 DETAIL: print and record one proof; a failed one fails the lab
lab_check() {
  local name="$1" ok="$2" detail="$3"
  if [[ "$ok" == 1 ]]; then
    printf '  ok    %s: %s\n' "$name" "$detail"
    lab_result "checks.$name" "$(printf '{"ok": true, "detail": "%s"}' "${detail//\"/\'}")"
  else
    printf '  FAIL  %s: %s\n' "$name" "$detail"
    lab_result "checks.$name" "$(printf '{"ok": false, "detail": "%s"}' "${detail//\"/\'}")"
    LAB_FAILS=$((LAB_FAILS + 1))
  fi
}

# step TITLE: print a step header with the elapsed time
step() { printf '\n[%4ds] %s\n' "$((SECONDS - LAB_T0))" "$*"; }

# install_ok HOST BUNDLE [ARG...]: install.sh must succeed; on failure show its log's tail
install_ok() {
  local host="$1" rc=0 t0=$SECONDS
  lab_install "$@" || rc=$?
  lab_check "install.$host.$LAB_INSTALL_RUNS" "$([[ "$rc" == 0 ]] && echo 1 || echo 0)" \
    "install.sh ${*:3} on $host: exit $rc in $((SECONDS - t0)) s (log $LAB_LAST_LOG)"
  if [[ "$rc" != 0 ]]; then
    tail -n 25 "$LAB_LAST_LOG" | sed 's/^/        | /'
    return 1
  fi
}

# teardown: every lab process by pid, then namespaces, veths, /etc/netns entries, the bridge
LAB_TORN_DOWN=0
teardown() {
  [[ "$LAB_TORN_DOWN" == 1 ]] && return 0
  lab_fw_stop_all
  lab_kill_all
  lab_net_teardown
  LAB_TORN_DOWN=1
}

# summary: the JSON report, its path, and the summary line (always the last line printed)
summary() {
  [[ "$LAB_SUMMARY_DONE" == 1 ]] && return 0
  LAB_SUMMARY_DONE=1
  lab_result summary.galera_synced "$GALERA_SYNCED"
  lab_result summary.galera_nodes "$GALERA_TOTAL"
  lab_result summary.arbitrator "\"$ARB\""
  lab_result summary.rabbitmq_running "$MQ_GOOD"
  lab_result summary.faults_survived "$FAULTS_OK"
  lab_result summary.faults_run "$FAULTS_RUN"
  lab_result summary.faults_not_run "\"${FAULTS_NOT_RUN[*]}\""
  lab_result summary.faults_total "$FAULTS_TOTAL"
  lab_result firewall.backend '"firewalld"'
  lab_result firewall.allowed_probes "$FW_ALLOWED"
  lab_result firewall.allowed_ok "$FW_ALLOWED_OK"
  lab_result firewall.denied_probes "$FW_DENIED"
  lab_result firewall.denied_ok "$FW_DENIED_OK"
  lab_result sst_methods "$(python3 -c 'import json,sys; print(json.dumps(sorted(set(sys.argv[1].split()))))' "$SST_METHODS")"
  lab_result summary.durability '"full (innodb_flush_log_at_trx_commit=1): every fault ran with a commit on disk before it was acknowledged"'
  lab_result summary.rows_lost "$ROWS_LOST"
  lab_result summary.messages_lost "$MSGS_LOST"
  lab_result summary.seconds "$((SECONDS - LAB_T0))"
  lab_result summary.failed_checks "$LAB_FAILS"
  lab_result summary.rabbitmq_version "\"$(dpkg-query -W -f='${Version}' rabbitmq-server)\""
  lab_result summary.mariadb_version "\"$(dpkg-query -W -f='${Version}' mariadb-server)\""
  lab_result summary.galera_version "\"$(dpkg-query -W -f='${Version}' galera-4)\""
  # which installer was proven: the commit, and whether installer_stub had uncommitted changes
  lab_result summary.commit "\"$(git -C "$LAB_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$LAB_REPO" diff --quiet HEAD -- installer_stub 2>/dev/null || echo +dirty-installer)\""
  python3 "$LAB_SCRIPTS/report.py" "$RESULTS" "$REPORT" || echo "lab: could not write $REPORT"
  echo
  echo "lab: $((SECONDS - LAB_T0)) s, $LAB_FAILS failed checks; logs in $LAB_DIR/logs"
  echo "lab: report $REPORT"
  local notrun=""
  [[ "${#FAULTS_NOT_RUN[@]}" -gt 0 ]] && notrun=" (not run: ${FAULTS_NOT_RUN[*]})"
  echo "lab: galera $GALERA_SYNCED/$GALERA_TOTAL synced, arbitrator $ARB, rabbitmq $MQ_GOOD/3 running, firewall allowed $FW_ALLOWED_OK/$FW_ALLOWED denied $FW_DENIED_OK/$FW_DENIED, sst ${SST_METHODS:-none}, faults survived $FAULTS_OK/$FAULTS_RUN run of $FAULTS_TOTAL$notrun, rows lost $ROWS_LOST, messages lost $MSGS_LOST, $UPGRADE_WORDS"
}

cleanup() {
  local rc=$?
  set +e
  teardown
  if [[ "$LAB_SUMMARY_DONE" != 1 ]]; then
    [[ "$rc" == 0 ]] && rc=1
    LAB_FAILS=$((LAB_FAILS + 1))
    lab_result summary.aborted "\"the lab stopped early (exit $rc); see the output above\""
    summary
  fi
  if [[ "${LAB_KEEP:-0}" != 1 && -n "${LAB_DIR:-}" && -d "$LAB_DIR" ]]; then
    # the data dirs are large (InnoDB logs, gcache); logs, configs and the report stay
    rm -rf "$LAB_DIR"/*/root/var/lib/mysql "$LAB_DIR"/*/root/var/lib/rabbitmq/mnesia
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------
step "bundles: the real builder writes site.env, secrets.env, flows.tsv, bundle.env, MANIFEST.sha256"
javac -d "$LAB_DIR/standin" "$LAB_SCRIPTS/standin/WorkCenterStandin.java"
printf 'Main-Class: WorkCenterStandin\n' >"$LAB_DIR/standin.mf"
jar cfm "$LAB_DIR/WorkCenter.jar" "$LAB_DIR/standin.mf" -C "$LAB_DIR/standin" .
for v in 3db arb; do
  (cd "$LAB_REPO" && python3 -m scripts.lab.make_bundle "$LAB_SCRIPTS/site-$v.yaml" "$LAB_DIR/WorkCenter.jar" \
    "$LAB_DIR/bundle-$v") >"$LAB_DIR/logs/bundle-$v.log" 2>&1 || { cat "$LAB_DIR/logs/bundle-$v.log"; die "bundle $v"; }
  chmod -R a+rX,go-w "$LAB_DIR/bundle-$v" # root's alone, whatever the umask: install.sh refuses anything else
  chmod 0600 "$LAB_DIR/bundle-$v/site/secrets.env"
done
B3="$LAB_DIR/bundle-3db"
BA="$LAB_DIR/bundle-arb"
echo "  bundles in $B3 and $BA${LAB_INSTALLER:+ (installer from $LAB_INSTALLER)}"

step "network: namespaces on bridge $LAB_BRIDGE, 198.18.0.0/24 only; firewalld + private bus in each host"
lab_net_up
declare -A IP=([db1]=11 [db2]=12 [db3]=13 [mq1]=21 [mq2]=22 [mq3]=23 [app1]=31 [app2]=32 [dba1]=41 [dba2]=42 [arb1]=43 [outsider]=200)
SITE_HOSTS=(db1 db2 db3 mq1 mq2 mq3 app1 app2 dba1 dba2 arb1)
for h in "${SITE_HOSTS[@]}" outsider; do
  lab_host_add "$h" "$LAB_NET_PREFIX.${IP[$h]}"
  lab_host_root_init "$h" "$LAB_NET_PREFIX.${IP[$h]}"
  case "$h" in dba* | arb*) LAB_BUNDLE_OF[$h]="$BA" ;; *) LAB_BUNDLE_OF[$h]="$B3" ;; esac
done
lab_exec db1 getent hosts db1 >/dev/null || die "/etc/netns hosts bind mount does not work here"
lab_check net.isolated "$([[ "$(lab_exec db1 hostname)" == db1 ]] && ! lab_exec db1 getent hosts db2 >/dev/null && echo 1 || echo 0)" \
  "db1 has its own hostname and /etc/hosts (db2 unknown before the installer's hosts block)"
for h in "${SITE_HOSTS[@]}"; do
  lab_fw_start "$h"
done
fw_up=0
for h in "${SITE_HOSTS[@]}"; do
  lab_wait 60 lab_fw_running "$h" && fw_up=$((fw_up + 1))
done
fw_ns="$(lab_fw_nft db1 list tables 2>&1 | tr '\n' ' ')"
lab_check firewall.running "$([[ "$fw_up" == "${#SITE_HOSTS[@]}" && "$fw_ns" == *"inet firewalld"* && "$(lab_fw_host_ruleset)" == "$HOST_RULESET_BEFORE" ]] && echo 1 || echo 0)" \
  "firewalld runs in $fw_up/${#SITE_HOSTS[@]} host namespaces (db1's tables: ${fw_ns% }); the host's own ruleset unchanged"
echo "  ${#LAB_HOSTS[@]} namespaces: ${LAB_HOSTS[*]} (outsider: no role, no firewall, a client only)"

# ------------------------------------------------------------------------------------------
site_a_by="install.sh host by host"
[[ "${LAB_ANSIBLE:-1}" == 1 ]] && site_a_by="ansible-playbook install.yml from a control namespace over ssh (lib/ansible.sh)"
step "install.sh on site A: db1 db2 db3 (first bootstraps, others join by mariabackup SST), mq1-3, app1-2; $site_a_by"
db_marks="$(marks_of db1)"
if [[ "${LAB_ANSIBLE:-1}" == 1 ]]; then   # issue 15; LAB_ANSIBLE=0: install.sh host by host, as before
  lab_ansible_install "$B3" db1 db2 db3 mq1 mq2 mq3 app1 app2 || die "ansible-playbook install.yml failed"
  first_sst="$(transfer_kind db2 "$db_marks")"
else
  for h in db1 db2 db3 mq1 mq2 mq3 app1 app2; do
    install_ok "$h" "$B3" || die "installing $h failed"
    [[ "$h" == db2 ]] && first_sst="$(transfer_kind db2 "$db_marks")"
  done
fi
one_boot=0
grep -q 'bootstrapping a new Galera cluster' "$LAB_DIR"/logs/01-db1-install.log &&
  ! grep -q 'bootstrapping' "$LAB_DIR"/logs/0[23]-db*-install.log && one_boot=1
lab_check galera.one_bootstrap "$one_boot" "db1 bootstrapped, db2 and db3 joined"
lab_check galera.sst_mariabackup "$([[ "$first_sst" == "SST mariabackup" ]] && echo 1 || echo 0)" \
  "db2 joined site A (sst-method: mariabackup) by: $first_sst"
[[ "$first_sst" == "SST mariabackup" ]] && SST_METHODS+="${SST_METHODS:+ }mariabackup"

step "install.sh on site B: dba1 dba2 + arb1 (garbd), rsync SST"
db_marks="$(marks_of dba1)"
for h in dba1 dba2 arb1; do
  install_ok "$h" "$BA" || die "installing $h failed"
  [[ "$h" == dba2 ]] && arb_sst="$(transfer_kind dba2 "$db_marks")"
done
lab_check galera.sst_rsync "$([[ "$arb_sst" == "SST rsync" ]] && echo 1 || echo 0)" "dba2 joined site B (sst-method: rsync) by: $arb_sst"
[[ "$arb_sst" == "SST rsync" ]] && SST_METHODS+="${SST_METHODS:+ }rsync"

step "Galera: state, size, UUID, write on one node / read on the others"
lab_wait 60 galera_synced 3 db1 db2 db3 || true
galera_check site_a 3 db1 db2 db3
galera_write_read site_a db1 db2 db3
lab_wait 60 galera_synced 3 dba1 dba2 || true
galera_check site_b 3 dba1 dba2
galera_write_read site_b dba1 dba2
garb_pid="$(lab_pid_of arb1 garb)"
arb_ok=0
if [[ -n "$garb_pid" && "$(cat "/proc/$garb_pid/comm" 2>/dev/null)" == garbd && "$(lab_wsrep dba1 wsrep_cluster_size)" == 3 ]]; then
  arb_ok=1
fi
lab_check galera.arbitrator "$arb_ok" "garbd (pid ${garb_pid:-none}) runs on arb1 and counts: 2 mariadbd + garbd = wsrep_cluster_size $(lab_wsrep dba1 wsrep_cluster_size)"
dur="$(lab_sql db1 "SELECT @@innodb_flush_log_at_trx_commit" 2>/dev/null || true)"
gc="$(lab_sql db1 "SELECT @@wsrep_provider_options" 2>/dev/null | grep -o 'gcache.recover = [a-z]*; gcache.size = [0-9A-Za-z]*' || true)"
lab_check galera.durable "$([[ "$dur" == 1 && "$gc" == *"recover = yes"* ]] && echo 1 || echo 0)" \
  "db1 runs innodb_flush_log_at_trx_commit=$dur, $gc"
# ------------------------------------------------------------------------------------------
MQ_HOSTS=(mq1 mq2 mq3)
MQ_WANT="rabbit@mq1 rabbit@mq2 rabbit@mq3"

MQ_ADDRS="198.18.0.21:5672,198.18.0.22:5672,198.18.0.23:5672"
MQ_APP_USER="$(sed -n 's/^WCB_MQ_APP_USER=//p' "$B3/site/site.env")"
DB_APP_USER="$(sed -n 's/^WCB_DB_APP_USER=//p' "$B3/site/site.env")"

step "RabbitMQ: cluster_status everywhere, guest gone, publish with confirms to replicated queues"
lab_wait 60 mq_all_running || true
mq_check formed
users="$(lab_rmqctl mq1 list_users --formatter json 2>/dev/null || true)"
guest_refused=0
if lab_exec mq1 env AMQP_PASSWORD=guest python3 "$LAB_SCRIPTS/amqp_confirm.py" check --addresses 127.0.0.1:5672 --user guest >/dev/null 2>&1; then
  guest_refused=0
else
  guest_refused=1
fi
lab_check rabbitmq.guest_gone "$([[ "$users" != *'"guest"'* && "$users" == *"\"$MQ_APP_USER\""* && "$guest_refused" == 1 ]] && echo 1 || echo 0)" \
  "list_users has $MQ_APP_USER and no guest; guest/guest login on 127.0.0.1 refused"
cookies="$(for h in "${MQ_HOSTS[@]}"; do stat -c '%a %U' "$(lab_root "$h")/var/lib/rabbitmq/.erlang.cookie"; sha256sum <"$(lab_root "$h")/var/lib/rabbitmq/.erlang.cookie"; done | sort -u | wc -l)"
lab_check rabbitmq.cookie "$([[ "$cookies" == 2 ]] && echo 1 || echo 0)" \
  "the erlang cookie is 0400 rabbitmq and the same on mq1-3 (compared by hash, never shown)"
rules=0
for peer in 22 23; do
  lab_fw_cmd mq1 --list-rich-rules 2>/dev/null | grep -q "source address=\"$LAB_NET_PREFIX.$peer/32\" port port=\"25672\"" && rules=$((rules + 1))
done
lab_check rabbitmq.port_25672 "$([[ "$rules" == 2 ]] && echo 1 || echo 0)" \
  "mq1's firewalld (firewall-cmd --list-rich-rules) admits 25672/tcp from mq2 and mq3 (the port the seed forgot)"
policy_ok="$(lab_rmqctl mq1 list_policies --formatter json 2>/dev/null | python3 -c '
import json, sys
ps = {p["name"]: p for p in json.load(sys.stdin)}
d = json.loads(ps["ha-all"]["definition"]) if "ha-all" in ps else {}
print(1 if d.get("ha-mode") == "all" and ps["ha-all"]["pattern"] == "^" else 0)' 2>/dev/null || echo 0)"
lab_check rabbitmq.ha_policy "$policy_ok" \
  "the installer's ha-all policy (ha-mode all, pattern ^) is set: RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server) is 3.x, classic mirrored queues exist"
for qt in classic quorum; do
  out="$(amqp app1 publish --addresses "$MQ_ADDRS" --queue "lab-$qt" --type "$qt" --count 500 --confirmed "$LAB_DIR/confirmed-$qt" || true)"
  lab_result "rabbitmq.publish_$qt" "$out"
  drained="$(amqp app1 drain --addresses "$MQ_ADDRS" --queue "lab-$qt" --confirmed "$LAB_DIR/confirmed-$qt" || true)"
  lab_result "rabbitmq.drain_$qt" "$drained"
  lab_check "rabbitmq.confirms_$qt" "$([[ "$(json_get "$out" confirmed)" == 500 && "$(json_get "$drained" lost)" == 0 ]] && echo 1 || echo 0)" \
    "app user, $qt queue: $(json_get "$out" confirmed)/500 confirmed, $(json_get "$drained" consumed) consumed, $(json_get "$drained" lost) lost"
done
queues="$(lab_rmqctl mq1 list_queues name policy type synchronised_slave_pids --formatter json 2>/dev/null || true)"
lab_result rabbitmq.queues "$queues"
kinds="$(python3 -c '
import json, sys
q = {x["name"]: x for x in json.loads(sys.argv[1])}
c, r = q.get("lab-classic", {}), q.get("lab-quorum", {})
ok = c.get("policy") == "ha-all" and len(c.get("synchronised_slave_pids") or []) == 2 and r.get("type") == "quorum"
print(1 if ok else 0)' "$queues" 2>/dev/null || echo 0)"
lab_check rabbitmq.queue_kinds "$kinds" \
  "lab-classic: policy ha-all with 2 synchronised mirrors (3 copies); lab-quorum: a quorum queue"

mq_ph="$(grep -h '^cluster_partition_handling' "$(lab_root mq1)/etc/rabbitmq/rabbitmq.conf" || true)"
lab_check rabbitmq.partition_handling "$([[ "$mq_ph" == 'cluster_partition_handling = pause_minority' ]] && echo 1 || echo 0)" \
  "3 mq nodes on $(dpkg-query -W -f='${Version}' rabbitmq-server): rabbitmq.conf says '${mq_ph:-nothing (ignore)}'"

step "App nodes: WorkCenter-app.yml as the manual writes it; app users log in; the stand-in clusters"
for h in app1 app2; do
  app_check "$h" "$LAB_NET_PREFIX.${IP[$h]}"
done


# ------------------------------------------------------------------------------------------
step "firewall: every flows.tsv flow from its allowed hosts connects; cluster/admin ports refuse everyone else"
# listeners hold the ports nothing serves right now (SST 4444, IST 4568, CLI 35672-35682, ...), so an
# allowed probe must connect; each lives in its host's namespace and is stopped by pid afterwards
others_a="outsider=$LAB_NET_PREFIX.200,dba1=$LAB_NET_PREFIX.41,dba2=$LAB_NET_PREFIX.42,arb1=$LAB_NET_PREFIX.43"
others_b="outsider=$LAB_NET_PREFIX.200,db1=$LAB_NET_PREFIX.11,db2=$LAB_NET_PREFIX.12,db3=$LAB_NET_PREFIX.13"
{
  python3 "$LAB_SCRIPTS/fwprobe.py" plan --site-env "$B3/site/site.env" --flows "$B3/site/flows.tsv" \
    --hosts db1,db2,db3,mq1,mq2,mq3,app1,app2 --others "$others_a"
  python3 "$LAB_SCRIPTS/fwprobe.py" plan --site-env "$BA/site/site.env" --flows "$BA/site/flows.tsv" \
    --hosts dba1,dba2,arb1 --others "$others_b"
} >"$LAB_DIR/fw-plan.tsv"
declare -a LISTEN_PIDS=() LISTEN_HOSTS=()
for h in "${SITE_HOSTS[@]}"; do
  ports="$(awk -F'\t' -v h="$h" '$3 == h { print $5 }' "$LAB_DIR/fw-plan.tsv" | sort -un | tr '\n' ' ')"
  [[ -n "$ports" ]] || continue
  rm -f "$LAB_DIR/listen-$h.ready"
  # shellcheck disable=SC2086 # one argument per port
  lab_exec "$h" python3 "$LAB_SCRIPTS/fwprobe.py" listen --ip "$LAB_NET_PREFIX.${IP[$h]}" --ready "$LAB_DIR/listen-$h.ready" \
    --max-seconds 300 $ports >/dev/null 2>"$LAB_DIR/logs/listen-$h.err" &
  LISTEN_PIDS+=($!)
  LISTEN_HOSTS+=("$h")
done
for h in "${LISTEN_HOSTS[@]}"; do
  lab_wait 30 test -s "$LAB_DIR/listen-$h.ready" || true
done
declare -A PROBE_PIDS=()
for src in "${SITE_HOSTS[@]}" outsider; do
  mapfile -t targets < <(awk -F'\t' -v s="$src" '$2 == s { print $4 ":" $5 }' "$LAB_DIR/fw-plan.tsv" | sort -u)
  [[ "${#targets[@]}" -gt 0 ]] || continue
  lab_exec "$src" python3 "$LAB_SCRIPTS/fwprobe.py" probe --timeout 3 "${targets[@]}" >"$LAB_DIR/probe-$src.json" 2>&1 &
  PROBE_PIDS[$src]=$!
done
for src in "${!PROBE_PIDS[@]}"; do
  wait "${PROBE_PIDS[$src]}" || true
done
# the listeners by the pid each wrote first in its ready file (the background job is only lab_exec's shell)
for h in "${LISTEN_HOSTS[@]}"; do
  pid="$(awk '{ print $1 }' "$LAB_DIR/listen-$h.ready" 2>/dev/null)"
  if [[ "$pid" =~ ^[0-9]+$ ]]; then kill "$pid" 2>/dev/null || true; fi
done
for pid in "${LISTEN_PIDS[@]}"; do
  lab_wait 10 pid_gone "$pid" || kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
# each probe's result, next to what the plan expected
python3 - "$LAB_DIR" >"$LAB_DIR/fw-results.tsv" <<'PY'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
res = {}
for f in d.glob("probe-*.json"):
    try:
        res[f.name[6:-5]] = json.loads(f.read_text())
    except ValueError:
        res[f.name[6:-5]] = {}
for line in (d / "fw-plan.tsv").read_text().splitlines():
    kind, src, dst, ip, port, flow = line.split("\t")
    got = res.get(src, {}).get(f"{ip}:{port}", "not probed")
    ok = (got == "connected") if kind == "allowed" else got in ("unreachable", "refused", "timeout")
    print("\t".join([kind, src, dst, port, flow, got, "ok" if ok else "WRONG"]))
PY
FW_ALLOWED="$(awk -F'\t' '$1 == "allowed"' "$LAB_DIR/fw-results.tsv" | wc -l)"
FW_ALLOWED_OK="$(awk -F'\t' '$1 == "allowed" && $7 == "ok"' "$LAB_DIR/fw-results.tsv" | wc -l)"
FW_DENIED="$(awk -F'\t' '$1 == "denied"' "$LAB_DIR/fw-results.tsv" | wc -l)"
FW_DENIED_OK="$(awk -F'\t' '$1 == "denied" && $7 == "ok"' "$LAB_DIR/fw-results.tsv" | wc -l)"
kinds="$(awk -F'\t' '$1 == "denied" { print $6 }' "$LAB_DIR/fw-results.tsv" | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"
lab_check firewall.allowed "$([[ "$FW_ALLOWED" -gt 100 && "$FW_ALLOWED_OK" == "$FW_ALLOWED" ]] && echo 1 || echo 0)" \
  "$FW_ALLOWED_OK/$FW_ALLOWED allowed probes connected (every flows.tsv row, from each allowed host, to each destination)"
lab_check firewall.denied "$([[ "$FW_DENIED" -gt 100 && "$FW_DENIED_OK" == "$FW_DENIED" ]] && echo 1 || echo 0)" \
  "$FW_DENIED_OK/$FW_DENIED denied probes refused ($kinds): every cluster and admin port from every host outside its allowed set, the outsider included"
awk -F'\t' '$7 == "WRONG"' "$LAB_DIR/fw-results.tsv" | head -n 10 | sed 's/^/        | /'
app_4567="$(awk -F'\t' '$1 == "denied" && $2 ~ /^app/ && $4 == 4567 && $7 == "ok"' "$LAB_DIR/fw-results.tsv" | wc -l)"
out_all="$(awk -F'\t' '$1 == "denied" && $2 == "outsider" && $7 == "ok"' "$LAB_DIR/fw-results.tsv" | wc -l)"
lab_result firewall.app_hosts_refused_on_4567 "$app_4567"
lab_result firewall.outsider_refused "$out_all"
lab_result firewall.host_ruleset_unchanged_during "$([[ "$(lab_fw_host_ruleset)" == "$HOST_RULESET_BEFORE" ]] && echo true || echo false)"

# ------------------------------------------------------------------------------------------
lab_sql db1 "CREATE TABLE IF NOT EXISTS workcenter.lab_rows (id INT PRIMARY KEY, payload CHAR(64) NOT NULL, via VARCHAR(32)) ENGINE=InnoDB"
rolling_maybe # issue 14: every site A node through install.sh --upgrade under load (lib/rolling.sh)

fault_db_kill() {
  step "fault db-kill: kill -9 db1's mariadbd under load; install.sh re-run rejoins it"
  load_start db-kill
  local victim_pid before after primary_all=1 size_after t0 rejoin_log ok=0 h
  victim_pid="$(lab_pid_of db1 mariadb)"
  [[ -n "$victim_pid" && "$(cat "/proc/$victim_pid/comm" 2>/dev/null)" == mariadbd ]] || die "db1's mariadbd pid not found"
  before="$(wc -l <"$F_ACK")"
  t0=$SECONDS
  kill -9 "$victim_pid"
  echo "  killed db1 mariadbd (pid $victim_pid) with $(load_counts)"
  for _ in $(seq 1 10); do
    for h in db2 db3; do
      [[ "$(lab_wsrep "$h" wsrep_cluster_status)" == Primary ]] || primary_all=0
    done
    sleep 1
  done
  size_after="$(lab_wsrep db2 wsrep_cluster_size)"
  after="$(wc -l <"$F_ACK")"
  echo "  db2/db3 Primary throughout 10 s: $primary_all; wsrep_cluster_size $size_after; inserts went on: $before -> $after"
  install_ok db1 "$B3" || true
  rejoin_log="$LAB_LAST_LOG"
  lab_wait 120 galera_synced 3 db1 db2 db3 || true
  local rec=$((SECONDS - t0))
  load_stop_check db1 db2 db3
  if [[ "$primary_all" == 1 && "$size_after" == 2 && "$after" -gt "$before" ]] && grep -q 'joining the running cluster' "$rejoin_log" &&
    galera_synced 3 db1 db2 db3; then
    ok=1
  fi
  fault_done db-kill "$ok" "$rec" "db2/db3 stayed Primary (size $size_after), writes went on ($before -> $after), db1 rejoined Synced via install.sh"
}

fault_db_orderly_restart() {
  step "fault db-orderly-restart: orderly stop of every db node, restart through install.sh"
  load_start db-orderly-restart
  local h safe="" refused1=0 refused2=0 boot_ok=0 ok=0 t0
  t0=$SECONDS
  for h in db1 db2 db3; do
    lab_svc "$h" stop mariadb
  done
  for h in db1 db2 db3; do
    safe+="$h=$(sed -n 's/^safe_to_bootstrap:[[:space:]]*//p' "$(lab_root "$h")/var/lib/mysql/grastate.dat") "
  done
  echo "  grastate safe_to_bootstrap: $safe"
  lab_result faults_detail.db-orderly-restart.safe_to_bootstrap "\"${safe% }\""
  if ! lab_install db1 "$B3"; then
    grep -q 'safe_to_bootstrap' "$LAB_LAST_LOG" && ! lab_svc db1 is_active mariadb && refused1=1
  fi
  lab_check db-orderly-restart.no_bootstrap_on_unsafe "$refused1" "install.sh on db1 (safe_to_bootstrap: 0, no peer) refuses to start it (log $LAB_LAST_LOG)"
  install_ok db3 "$B3" || true
  grep -q 'bootstrapping a new Galera cluster' "$LAB_LAST_LOG" && boot_ok=1
  lab_check db-orderly-restart.bootstrap_safe_node "$boot_ok" "install.sh on db3 (safe_to_bootstrap: 1) bootstraps"
  install_ok db1 "$B3" || true
  install_ok db2 "$B3" || true
  lab_svc db2 stop mariadb
  if ! lab_install db2 "$B3" --bootstrap; then
    grep -q 'refusing --bootstrap' "$LAB_LAST_LOG" && ! lab_svc db2 is_active mariadb && refused2=1
  fi
  lab_check db-orderly-restart.second_bootstrap_refused "$refused2" "install.sh --bootstrap on db2 while db1/db3 run: refused (log $LAB_LAST_LOG)"
  install_ok db2 "$B3" || true
  lab_wait 120 galera_synced 3 db1 db2 db3 || true
  local rec=$((SECONDS - t0))
  load_stop_check db1 db2 db3
  [[ "$safe" == "db1=0 db2=0 db3=1 " && "$refused1" == 1 && "$boot_ok" == 1 && "$refused2" == 1 ]] && galera_synced 3 db1 db2 db3 && ok=1
  fault_done db-orderly-restart "$ok" "$rec" "bootstrap only from db3 (safe_to_bootstrap: $safe), second bootstrap refused"
}

fault_mq_kill() {
  step "fault mq-kill: kill -9 mq1's beam under load; install.sh re-run rejoins it"
  load_start mq-kill
  local beam_pid t0 ok=0
  beam_pid="$(tr -cd '0-9' <"$(lab_root mq1)/var/lib/rabbitmq/mnesia/rabbit@mq1.pid" 2>/dev/null || true)"
  [[ -n "$beam_pid" && "$(cat "/proc/$beam_pid/comm" 2>/dev/null)" == beam.smp ]] || die "mq1's beam pid not found"
  t0=$SECONDS
  kill -9 "$beam_pid"
  echo "  killed mq1 beam.smp (pid $beam_pid) with $(load_counts)"
  sleep 5
  install_ok mq1 "$B3" || true
  lab_wait 60 mq_all_running || true
  local rec=$((SECONDS - t0))
  load_stop_check db1 db2 db3
  mq_all_running && ok=1
  fault_done mq-kill "$ok" "$rec" "mq1 rejoined through install.sh ($(mq_running_count mq2)/3 running)"
}

fault_db_partition() {
  step "fault db-partition: nftables inside db1 cuts it off from db2/db3 under load"
  load_start db-partition
  local t0 marks st1 sz1 refused before after acc2 s1 s2 ist ok=0 rec
  marks="$(marks_of db1 db2 db3)"
  t0=$SECONDS
  lab_cut db1 drop "$LAB_NET_PREFIX.12" "$LAB_NET_PREFIX.13"
  lab_wait 30 wsrep_is db1 wsrep_cluster_status non-Primary || true
  lab_wait 30 galera_synced 2 db2 db3 || true
  st1="$(lab_wsrep db1 wsrep_cluster_status)"
  sz1="$(lab_wsrep db1 wsrep_cluster_size)"
  refused=0
  sql_write_refused db1 && refused=1
  before="$(wc -l <"$F_ACK")"
  acc2=0
  local id2=$((FAULT_SEQ * 1000000 + 950000))
  lab_sqlc db2 "INSERT INTO workcenter.lab_rows (id, payload, via) VALUES ($id2, 'majority', 'db2')" && acc2=1
  [[ "$acc2" == 1 ]] && printf '%s\n' "$id2" >>"$F_ACK"
  sleep 5
  after="$(wc -l <"$F_ACK")"
  echo "  db1: $st1 (size $sz1), write refused: $refused; db2/db3 Primary size $(lab_wsrep db2 wsrep_cluster_size), writes went on: $before -> $after"
  s1="$(status_run db1)"
  s2="$(status_run db2)"
  echo "  --status db1: exit ${s1%%$'\t'*}, ${s1#*$'\t'}"
  echo "  --status db2: exit ${s2%%$'\t'*}, ${s2#*$'\t'}"
  local health=0
  [[ "${s1%%$'\t'*}" == 5 && "$s2" == "0"$'\t'*"degraded but serving"* ]] && health=1
  lab_check db-partition.health "$health" "install.sh --status: db1 FAIL (exit ${s1%%$'\t'*}), db2 '${s2#*$'\t'}'"
  lab_heal db1
  lab_wait 90 galera_synced 3 db1 db2 db3 || true
  rec=$((SECONDS - t0))
  sleep 2
  ist="$(transfer_kind db1 "$marks")"
  echo "  healed; db1 rejoined by: $ist"
  load_stop_check db1 db2 db3
  [[ "$st1" == non-Primary && "$refused" == 1 && "$acc2" == 1 && "$after" -gt "$before" && "$ist" == IST && "$health" == 1 ]] &&
    galera_synced 3 db1 db2 db3 && ok=1
  fault_done db-partition "$ok" "$rec" "db1 $st1 and refused writes ($refused), majority accepted ($before -> $after rows), --status FAIL/degraded ($health), rejoined by $ist"
}

fault_mq_partition() {
  step "fault mq-partition: nftables inside mq1 cuts it off from mq2/mq3 under load"
  # The issue's loads: the ha-all classic queue is declared through the majority (its master on mq2),
  # the quorum queue through mq1 (its leader in the minority: a new leader must be elected). A third
  # publisher, classic through mq1 (master in the minority), measures RabbitMQ's known limitation of
  # mirrored classic queues (Jepsen 2014): it is reported, not counted as the fault's loss.
  # shellcheck disable=SC2034 # read by load_start (${!addrs_var}), which runs in this scope
  local F_ADDRS_classic="$LAB_NET_PREFIX.22:5672,$LAB_NET_PREFIX.23:5672,$LAB_NET_PREFIX.21:5672"
  # shellcheck disable=SC2034 # as above
  local F_ADDRS_quorum="$MQ_ADDRS"
  load_start mq-partition
  local t0 paused=0 maj before after s1 s2 ok=0 rec c2 obs obs_pid obs_conf obs_lost
  obs="$LAB_DIR/confirmed-mq-partition-classic-minority"
  : >"$obs"
  amqp app1 publish --addresses "$MQ_ADDRS" --queue lab-mq-partition-classic-minority --type classic --count 100000 \
    --delay 0.03 --max-seconds 600 --stop-file "$F_STOP" --confirmed "$obs" >"$LAB_DIR/logs/publish-mq-partition-classic-minority.json" 2>&1 &
  obs_pid=$!
  lab_wait 30 lines_at_least 20 "$obs" || true
  t0=$SECONDS
  # reset: a refused switch port; both sides notice at once instead of after net_ticktime (60 s)
  lab_cut mq1 reset "$LAB_NET_PREFIX.22" "$LAB_NET_PREFIX.23"
  lab_wait 90 mq_paused mq1 && paused=1
  lab_wait 30 mq_count_is mq2 2 || true
  maj="$(mq_running_count mq2)"
  before=$(($(wc -l <"$LAB_DIR/confirmed-mq-partition-classic") + $(wc -l <"$LAB_DIR/confirmed-mq-partition-quorum")))
  sleep 8
  after=$(($(wc -l <"$LAB_DIR/confirmed-mq-partition-classic") + $(wc -l <"$LAB_DIR/confirmed-mq-partition-quorum")))
  echo "  mq1 paused (pause_minority) after $((SECONDS - t0 - 8)) s: $paused; mq2 sees $maj running; confirms went on: $before -> $after"
  s1="$(status_run mq1)"
  s2="$(status_run mq2)"
  echo "  --status mq1: exit ${s1%%$'\t'*}, ${s1#*$'\t'}"
  echo "  --status mq2: exit ${s2%%$'\t'*}, ${s2#*$'\t'}"
  local health=0
  [[ "${s1%%$'\t'*}" == 5 && "$s2" == "0"$'\t'*"degraded but serving"* ]] && health=1
  lab_check mq-partition.health "$health" "install.sh --status: mq1 FAIL (exit ${s1%%$'\t'*}), mq2 '${s2#*$'\t'}'"
  lab_heal mq1
  lab_wait 120 mq_all_running || true
  rec=$((SECONDS - t0))
  c2="$(lab_rmqctl mq2 cluster_status --formatter json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("partitions"))' 2>/dev/null || true)"
  echo "  healed: $(mq_running_count mq1)/3 running seen from mq1, partitions: ${c2:-?}"
  load_stop_check db1 db2 db3
  lab_wait 120 pid_gone "$obs_pid" || kill "$obs_pid" 2>/dev/null || true
  wait "$obs_pid" 2>/dev/null || true
  obs_conf="$(wc -l <"$obs")"
  obs_lost="$(json_get "$(amqp app1 drain --addresses "$MQ_ADDRS" --queue lab-mq-partition-classic-minority --confirmed "$obs" \
    --max-seconds 120 2>/dev/null || echo '{}')" lost 2>/dev/null || true)"
  echo "  observed, not counted: classic ha-all queue with its master on the cut-off mq1: $obs_conf confirmed, ${obs_lost:-?} lost"
  lab_result faults_detail.mq-partition.classic_master_in_minority "{\"confirmed\": $obs_conf, \"lost\": \"${obs_lost:-?}\", \"note\": \"RabbitMQ's mirrored classic queues may lose confirmed messages whose master is cut off (Jepsen 2014); quorum queues do not\"}"
  [[ "$paused" == 1 && "$maj" == 2 && "$after" -gt "$before" && "$c2" == "{}" && "$health" == 1 ]] && mq_all_running && ok=1
  fault_done mq-partition "$ok" "$rec" "mq1 paused ($paused), majority kept confirming ($before -> $after), --status FAIL/degraded ($health), healed 3/3 running, partitions ${c2:-?}; observed: classic master on mq1 lost ${obs_lost:-?} of $obs_conf"
}

fault_db_pause() {
  step "fault db-pause: SIGSTOP db1's mariadbd past evs.suspect_timeout (5 s), then SIGCONT"
  load_start db-pause
  local pid t0 sz2 st1 ok=0 rec before after kind marks
  pid="$(lab_pid_of db1 mariadb)"
  [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == mariadbd ]] || die "db1's mariadbd pid not found"
  marks="$(marks_of db1 db2 db3)"
  t0=$SECONDS
  kill -STOP "$pid"
  lab_wait 30 wsrep_is db2 wsrep_cluster_size 2 || true
  sz2="$(lab_wsrep db2 wsrep_cluster_size)"
  before="$(wc -l <"$F_ACK")"
  sleep 6
  after="$(wc -l <"$F_ACK")"
  kill -CONT "$pid"
  echo "  db1 stopped $((SECONDS - t0)) s: db2 saw size $sz2 (evicted), writes went on: $before -> $after"
  lab_wait 90 galera_synced 3 db1 db2 db3 || true
  rec=$((SECONDS - t0))
  kind="$(transfer_kind db1 "$marks")"
  st1="$(lab_wsrep db1 wsrep_local_state_comment)"
  echo "  after SIGCONT: db1 $st1, rejoined by $kind"
  load_stop_check db1 db2 db3
  [[ "$sz2" == 2 && "$after" -gt "$before" ]] && galera_synced 3 db1 db2 db3 && ok=1
  fault_done db-pause "$ok" "$rec" "db1 evicted (db2 size $sz2) while frozen, majority wrote on ($before -> $after), rejoined by $kind"
}

fault_db_replace() {
  step "fault db-replace: db1's disk replaced (mariadbd killed, datadir wiped); install.sh rejoins it by SST"
  load_start db-replace
  local pid t0 marks kind ok=0 rec
  pid="$(lab_pid_of db1 mariadb)"
  [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == mariadbd ]] || die "db1's mariadbd pid not found"
  marks="$(marks_of db1 db2 db3)"
  t0=$SECONDS
  kill -9 "$pid"
  lab_wait 30 pid_gone "$pid" || true
  rm -rf "$(lab_root db1)/var/lib/mysql"
  echo "  db1's datadir removed with $(load_counts)"
  install_ok db1 "$B3" || true
  lab_wait 120 galera_synced 3 db1 db2 db3 || true
  rec=$((SECONDS - t0))
  kind="$(transfer_kind db1 "$marks")"
  echo "  db1 rejoined by: $kind"
  [[ "$kind" == "SST "* && " $SST_METHODS " != *" ${kind#SST } "* ]] && SST_METHODS+="${SST_METHODS:+ }${kind#SST }"
  load_stop_check db1 db2 db3
  [[ "$kind" == "SST mariabackup" ]] && galera_synced 3 db1 db2 db3 && ok=1
  fault_done db-replace "$ok" "$rec" "db1 rebuilt from an empty datadir by install.sh, state transfer: $kind"
}

fault_mq_replace() {
  step "fault mq-replace: mq3's disk replaced (beam killed, mnesia wiped); install.sh rejoins it"
  load_start mq-replace
  local beam_pid t0 ok=0 rec users pol vh
  beam_pid="$(tr -cd '0-9' <"$(lab_root mq3)/var/lib/rabbitmq/mnesia/rabbit@mq3.pid" 2>/dev/null || true)"
  [[ -n "$beam_pid" ]] || die "mq3's beam pid not found"
  t0=$SECONDS
  kill -9 "$beam_pid"
  lab_wait 30 pid_gone "$beam_pid" || true
  rm -rf "$(lab_root mq3)/var/lib/rabbitmq/mnesia"
  echo "  mq3's data removed with $(load_counts)"
  install_ok mq3 "$B3" || true
  lab_wait 90 mq_all_running || true
  rec=$((SECONDS - t0))
  users="$(lab_rmqctl mq3 list_users -q --no-table-headers 2>/dev/null | awk '{ print $1 }' | sort | tr '\n' ' ')"
  vh="$(lab_rmqctl mq3 list_vhosts -q --no-table-headers 2>/dev/null | tr '\n' ' ')"
  pol="$(lab_rmqctl mq3 list_policies -q --no-table-headers 2>/dev/null | awk '{ print $2 }' | tr '\n' ' ')"
  echo "  mq3: users ${users% }; vhosts ${vh% }; policies ${pol% }; $(mq_running_count mq3)/3 running"
  load_stop_check db1 db2 db3
  [[ " $users " == *" $MQ_APP_USER "* && " $users " == *" wcadmin "* && " $users " != *" guest "* && " $vh " == *" / "* && " $pol " == *" ha-all "* ]] &&
    mq_all_running && ok=1
  fault_done mq-replace "$ok" "$rec" "mq3 rebuilt from empty data by install.sh: users ${users% }, vhost ${vh% }, policy ${pol% }"
}

fault_rerun() {
  step "fault rerun: install.sh re-run on healthy nodes under load changes nothing (db2 mq2 app2 arb1)"
  load_start rerun
  local h before after rc same f_ok=1 t0
  t0=$SECONDS
  for h in db2 mq2 app2 arb1; do
    before="$(snapshot "$h")"
    rc=0
    lab_install "$h" "$(lab_bundle_of "$h")" || rc=$?
    after="$(snapshot "$h")"
    same=0
    [[ "$rc" == 0 && "$before" == "$after" ]] && grep -q 'Nothing changed' "$LAB_LAST_LOG" && same=1
    [[ "$same" == 1 ]] || f_ok=0
    lab_check "rerun.$h" "$same" "exit $rc, files and pids unchanged, 'Nothing changed' said (log $LAB_LAST_LOG)"
    [[ "$same" == 1 ]] || diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -n 10 | sed 's/^/        | /'
  done
  load_stop_check db1 db2 db3
  fault_done rerun "$f_ok" "$((SECONDS - t0))" "re-runs on db2, mq2, app2, arb1 changed nothing"
}

# power-loss (issue 13 point 2): every mariadbd, garbd, beam and app process killed at once, then
# everything restarted as a boot would and recovered by the installer's documented path
# (lib/power_loss.sh: power_loss_recover, the README's runbook "A power cut").
fault_power_loss() {
  step "fault power-loss: kill -9 every mariadbd, garbd, beam and app process at once; recover"
  load_start power-loss
  local h pid t0 ok=0 killed
  local -a victims=()
  # each site's history: the state UUID must survive (a node that came back at an unknown position, or
  # a bootstrap from one, starts a new history, and later joiners need a full SST)
  PL_UUID_A="$(lab_wsrep db1 wsrep_cluster_state_uuid)"
  PL_UUID_B="$(lab_wsrep dba2 wsrep_cluster_state_uuid)"
  # site B's nodes must not hold equal positions (a tie goes to site order, dba1): dba1 is down for
  # maintenance (orderly stop) while dba2 + garbd keep quorum and commit PL_B_ROWS rows; then the cut.
  # --recover must bootstrap dba2, the most advanced, never dba1.
  pl_lag_site_b
  for h in db1 db2 db3 dba2; do pid="$(lab_pid_of "$h" mariadb)"; [[ -n "$pid" ]] && victims+=("$pid"); done
  pid="$(lab_pid_of arb1 garb)"
  [[ -n "$pid" ]] && victims+=("$pid")
  for h in mq1 mq2 mq3; do
    pid="$(tr -cd '0-9' <"$(lab_root "$h")/var/lib/rabbitmq/mnesia/rabbit@$h.pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] && victims+=("$pid")
  done
  for h in app1 app2; do pid="$(lab_pid_of "$h" workcenter)"; [[ -n "$pid" ]] && victims+=("$pid"); done
  t0=$SECONDS
  # one kill(1) call: every process of the site gets SIGKILL in the same instant, as in a power cut
  # (it fails when a pid has already gone: the count below says how many were hit)
  killed="$(kill -9 "${victims[@]}" 2>&1 | grep -c 'No such process' || true)"
  killed=$((${#victims[@]} - killed))
  lab_check power-loss.killed "$([[ "$killed" == 10 ]] && echo 1 || echo 0)" \
    "$killed of 10 processes killed at once (4 mariadbd: db1-3 and dba2, dba1 being down; garbd; 3 beam.smp; 2 apps) with $(load_counts)"
  power_loss_recover && ok=1
  [[ "$killed" == 10 ]] || ok=0
  local rec=$((SECONDS - t0))
  load_stop_check db1 db2 db3
  fault_done power-loss "$ok" "$rec" "every process killed at once, booted, recovered by install.sh --recover: $PL_DETAIL"
}

# snapshot HOST: hashes of the files install.sh owns (etc, opt, cookie) + the unit's pid
snapshot() {
  local root p
  root="$(lab_root "$1")"
  (cd "$root" && find etc opt var/lib/rabbitmq/.erlang.cookie -type f 2>/dev/null | sort | xargs -r sha256sum)
  for p in "$root/run/wcbundle/"*.pid; do
    [[ -f "$p" ]] && printf '%s %s\n' "$p" "$(cat "$p")"
  done
}

for f in db-kill db-orderly-restart mq-kill db-partition mq-partition db-pause db-replace mq-replace rerun power-loss; do
  if fault_wanted "$f"; then
    "fault_${f//-/_}"
  else
    FAULTS_TOTAL=$((FAULTS_TOTAL - 1))
  fi
done

# issue 15: the rolling upgrade by ansible-playbook upgrade.yml, after the faults: run before them, its
# --finalize (enable_feature_flag all on Debian's RabbitMQ 3.10.8) was followed in the power-loss fault by
# one mq node crashing at the simultaneous boot (incompatible_feature_flags, badmap in
# rabbit_feature_flags:enable_dependencies) and an erl_crash.dump holding the cookie (lab run of 2026-11-29)
if [[ "${LAB_ANSIBLE:-1}" == 1 ]]; then
  step "site A upgraded by ansible-playbook upgrade.yml (install.sh --upgrade one host at a time, --finalize) under load"
  lab_ansible_upgrade db1 db2 db3
fi

# ------------------------------------------------------------------------------------------
step "final state"
galera_check final_a 3 db1 db2 db3
ga="$GALERA_GOOD"
galera_check final_b 3 dba1 dba2
gb="$GALERA_GOOD"
mq_check final
lab_check rabbitmq.final_partition_handling "$(grep -qx 'cluster_partition_handling = pause_minority' "$(lab_root mq1)/etc/rabbitmq/rabbitmq.conf" && echo 1 || echo 0)" \
  "rabbitmq.conf on mq1 still sets pause_minority"
GALERA_SYNCED=$((ga + gb))
ARB="$([[ "$arb_ok" == 1 && "$(lab_wsrep dba1 wsrep_cluster_size)" == 3 ]] && echo ok || echo FAILED)"
[[ "$ARB" == ok ]] || LAB_FAILS=$((LAB_FAILS + 1))
[[ "$ROWS_LOST" == 0 && "$MSGS_LOST" == 0 ]] || LAB_FAILS=$((LAB_FAILS + 1))

step "secrets: no generated secret appears in any install.sh output, installer log or daemon log"
leaks=0
searched=0
# An Erlang crash dump (erl_crash.dump, RabbitMQ's VM memory at a boot failure) holds the cookie by
# nature: the installer's drop-in for rabbitmq-server puts it beside the cookie, never under var/log
# (checked apart below, with its owner and mode). One found under var/log is a leak here.
for b in "$B3" "$BA"; do
  while IFS='=' read -r key val; do
    [[ "$key" == WCB_* && -n "$val" ]] || continue
    searched=$((searched + 1))
    if grep -rqF -- "$val" "$LAB_DIR/logs" "$LAB_DIR"/*/root/var/log 2>/dev/null; then
      leaks=$((leaks + 1))
      echo "  $key of $(basename "$b") appears in a log"
    fi
  done <"$b/site/secrets.env"
done
lab_check secrets.not_logged "$([[ "$leaks" == 0 && "$searched" -ge 12 ]] && echo 1 || echo 0)" "$searched secrets searched in $LAB_DIR/logs and every host's var/log: $leaks found"
# every crash dump: var/lib/rabbitmq/erl_crash.dump (the drop-in's ERL_CRASH_DUMP), rabbitmq's, 0600
# (the drop-in's UMask; the cookie itself is rabbitmq's, 0400)
dumps=""
dumps_ok=1
while IFS= read -r d; do
  [[ -n "$d" ]] || continue
  dumps+="${dumps:+, }${d#"$LAB_DIR"/} ($(stat -c '%U %a' "$d"))"
  [[ "$d" == "$LAB_DIR"/*/root/var/lib/rabbitmq/erl_crash.dump && "$(stat -c '%U %a' "$d")" == "rabbitmq 600" ]] || dumps_ok=0
done < <(find "$LAB_DIR"/*/root/var/log "$LAB_DIR"/*/root/var/lib/rabbitmq -name erl_crash.dump 2>/dev/null)
lab_check secrets.crash_dumps "$dumps_ok" "Erlang crash dumps (they hold the cookie): ${dumps:-none}; each at var/lib/rabbitmq/erl_crash.dump, rabbitmq's, 0600 (none under var/log)"

step "teardown"
teardown
left="$(ip netns list | grep -c "^$LAB_NS_PREFIX" || true)"
lab_check teardown "$([[ "$left" == 0 ]] && ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1 && [[ ! -e "$LAB_NETNS_ETC/${LAB_NS_PREFIX}db1" ]] && echo 1 || echo 0)" \
  "processes stopped by pid (firewalld and dbus-daemon included), $left lab namespaces left, bridge and /etc/netns entries (per-host /etc/firewalld) removed"
ruleset_after="$(lab_fw_host_ruleset)"
lab_check firewall.host_ruleset "$([[ "$ruleset_after" == "$HOST_RULESET_BEFORE" ]] && echo 1 || echo 0)" \
  "the host's own nft ruleset is identical before and after the lab ($(grep -c . <<<"$ruleset_after") lines)"
summary
[[ "$LAB_FAILS" == 0 ]]
