#!/usr/bin/env bash
# The cluster lab (`make lab`, CI runs it as root): install.sh's own role steps form real
# MariaDB Galera (galera-4, garbd) and RabbitMQ clusters across network namespaces, and the
# clusters survive node loss with nothing lost. Debian's packages provide the binaries
# (WCB_SKIP_PHASES="repo packages"); services run through lib/service.sh's direct backend.
#
#   hosts    one namespace each on bridge wcblab0, addresses only in 198.18.0.0/24
#   site A   scripts/lab/site-3db.yaml: db1-3, mq1-3, app1-2
#   site B   scripts/lab/site-arb.yaml: dba1-2 + arb1 (garbd)
#   faults   1 kill -9 a db node under inserts   2 full db stop, restart via install.sh
#            3 kill -9 an mq node under confirms  4 install.sh re-run on healthy nodes
#
# The last line printed is the summary; the JSON report's path is printed just before it.
# Environment: LAB_KEEP=1 keeps the data dirs of $LAB_DIR (logs are always kept).
set -euo pipefail

LAB_REPO="$(cd "$(dirname "$0")/../.." && pwd)"
LAB_SCRIPTS="$LAB_REPO/scripts/lab"
# shellcheck source=scripts/lab/lib/net.sh
source "$LAB_SCRIPTS/lib/net.sh"
# shellcheck source=scripts/lab/lib/hosts.sh
source "$LAB_SCRIPTS/lib/hosts.sh"
# shellcheck source=scripts/lab/lib/checks.sh
source "$LAB_SCRIPTS/lib/checks.sh"

die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
[[ "$(id -u)" == 0 ]] || die "run it as root (network namespaces, bridge, daemons as mysql/rabbitmq)"
for t in ip unshare setpriv ss mariadbd mariadb mariadb-install-db garbd javac jar python3 rsync socat; do
  command -v "$t" >/dev/null || die "missing tool: $t (make sysdeps)"
done
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || die "rabbitmq-server is not installed (make sysdeps)"
if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
  die "bridge $LAB_BRIDGE exists: another lab runs, or a crashed one left it (ip link del $LAB_BRIDGE)"
fi

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
FAULTS_TOTAL=4
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
  lab_result summary.faults_total "$FAULTS_TOTAL"
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
  echo "lab: galera $GALERA_SYNCED/$GALERA_TOTAL synced, arbitrator $ARB, rabbitmq $MQ_GOOD/3 running, faults survived $FAULTS_OK/$FAULTS_TOTAL, rows lost $ROWS_LOST, messages lost $MSGS_LOST"
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
  chmod -R a+rX "$LAB_DIR/bundle-$v"
  chmod 0600 "$LAB_DIR/bundle-$v/site/secrets.env"
done
B3="$LAB_DIR/bundle-3db"
BA="$LAB_DIR/bundle-arb"
echo "  bundles in $B3 and $BA"

step "network: namespaces on bridge $LAB_BRIDGE, 198.18.0.0/24 only"
lab_net_up
declare -A IP=([db1]=11 [db2]=12 [db3]=13 [mq1]=21 [mq2]=22 [mq3]=23 [app1]=31 [app2]=32 [dba1]=41 [dba2]=42 [arb1]=43)
for h in db1 db2 db3 mq1 mq2 mq3 app1 app2 dba1 dba2 arb1; do
  lab_host_add "$h" "$LAB_NET_PREFIX.${IP[$h]}"
  lab_host_root_init "$h" "$LAB_NET_PREFIX.${IP[$h]}"
  case "$h" in dba* | arb*) LAB_BUNDLE_OF[$h]="$BA" ;; *) LAB_BUNDLE_OF[$h]="$B3" ;; esac
done
lab_exec db1 getent hosts db1 >/dev/null || die "/etc/netns hosts bind mount does not work here"
lab_check net.isolated "$([[ "$(lab_exec db1 hostname)" == db1 ]] && ! lab_exec db1 getent hosts db2 >/dev/null && echo 1 || echo 0)" \
  "db1 has its own hostname and /etc/hosts (db2 unknown before the installer's hosts block)"
echo "  ${#LAB_HOSTS[@]} hosts: ${LAB_HOSTS[*]}"

# ------------------------------------------------------------------------------------------
step "install.sh on site A: db1 db2 db3 (first bootstraps, others join), mq1-3, app1-2"
for h in db1 db2 db3 mq1 mq2 mq3 app1 app2; do
  install_ok "$h" "$B3" || die "installing $h failed"
done
one_boot=0
grep -q 'bootstrapping a new Galera cluster' "$LAB_DIR"/logs/01-db1-install.log &&
  ! grep -q 'bootstrapping' "$LAB_DIR"/logs/0[23]-db*-install.log && one_boot=1
lab_check galera.one_bootstrap "$one_boot" "db1 bootstrapped, db2 and db3 joined"

step "install.sh on site B: dba1 dba2 + arb1 (garbd)"
for h in dba1 dba2 arb1; do
  install_ok "$h" "$BA" || die "installing $h failed"
done




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
  grep -q "source address=\"$LAB_NET_PREFIX.$peer/32\" port port=\"25672\"" "$LAB_DIR/logs/04-mq1-install.log" && rules=$((rules + 1))
done
lab_check rabbitmq.port_25672 "$([[ "$rules" == 2 ]] && echo 1 || echo 0)" \
  "mq1's firewall rules (printed, backend none) open 25672/tcp to mq2 and mq3 (the port the seed forgot)"
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

step "App nodes: WorkCenter-app.yml as the manual writes it; app users log in; the stand-in clusters"
for h in app1 app2; do
  app_check "$h" "$LAB_NET_PREFIX.${IP[$h]}"
done



fault_result() {  # fault_result N 0|1 DETAIL
  [[ "$2" == 1 ]] && FAULTS_OK=$((FAULTS_OK + 1))
  lab_check "fault$1" "$2" "$3"
}

step "fault 1: kill -9 db1 under a steady insert loop (app1 -> sequential db1,db2,db3)"
lab_sql db1 "CREATE TABLE IF NOT EXISTS workcenter.lab_rows (id INT PRIMARY KEY, payload CHAR(64) NOT NULL, via VARCHAR(32)) ENGINE=InnoDB"
ACK="$LAB_DIR/acked-rows"
STOP="$LAB_DIR/stop-inserts"
: >"$ACK"
MYSQL_PWD="$(lab_secret "$B3" WCB_DB_APP_PASSWORD)" lab_exec app1 "$LAB_SCRIPTS/insert_loop.sh" \
  198.18.0.11,198.18.0.12,198.18.0.13 "$DB_APP_USER" workcenter 1 200000 "$STOP" "$ACK" >"$LAB_DIR/logs/insert-loop.json" 2>&1 &
INSERT_PID=$!
lab_wait 60 lines_at_least 100 "$ACK" || true
before_kill="$(wc -l <"$ACK")"
victim_pid="$(lab_pid_of db1 mariadb)"
[[ -n "$victim_pid" && "$(cat "/proc/$victim_pid/comm" 2>/dev/null)" == mariadbd ]] || die "db1's mariadbd pid not found"
kill -9 "$victim_pid"
echo "  killed db1 mariadbd (pid $victim_pid) with $before_kill rows acknowledged"
primary_all=1
for _ in $(seq 1 15); do
  for h in db2 db3; do
    [[ "$(lab_wsrep "$h" wsrep_cluster_status)" == Primary ]] || primary_all=0
  done
  sleep 1
done
size_after="$(lab_wsrep db2 wsrep_cluster_size)"
after_kill="$(wc -l <"$ACK")"
echo "  db2/db3 Primary throughout 15 s: $primary_all; wsrep_cluster_size $size_after; inserts went on: $before_kill -> $after_kill"
install_ok db1 "$B3" || true
rejoin_log="$LAB_LAST_LOG"
lab_wait 120 galera_synced 3 db1 db2 db3 || true
sleep 3
touch "$STOP"
lab_wait 60 pid_gone "$INSERT_PID" || kill "$INSERT_PID" 2>/dev/null || true
wait "$INSERT_PID" 2>/dev/null || true
lab_wait 30 fingerprints_equal db1 db2 db3 || true
fp="$(table_fingerprints db1 db2 db3 | tr '\n' ';')"
lost="$(rows_lost "$ACK" db1 db2 db3)"
ROWS_LOST=$((ROWS_LOST + lost))
lab_result fault1.rows_acked "$(wc -l <"$ACK")"
lab_result fault1.fingerprints "\"$fp\""
lab_result fault1.insert_loop "$(cat "$LAB_DIR/logs/insert-loop.json")"
ok=0
if [[ "$primary_all" == 1 && "$size_after" == 2 && "$after_kill" -gt "$before_kill" ]] && grep -q 'joining the running cluster' "$rejoin_log" &&
  galera_synced 3 db1 db2 db3 && fingerprints_equal db1 db2 db3 && [[ "$lost" == 0 ]]; then
  ok=1
fi
fault_result 1 "$ok" "Primary kept (size $size_after), db1 rejoined Synced via install.sh, $(wc -l <"$ACK") acked rows, lost $lost, count+checksum on db1..3: $fp"

step "fault 2: orderly stop of all db nodes, restart through install.sh"
fp_before="$(table_fingerprints db1 | head -n1)"
for h in db1 db2 db3; do
  lab_svc "$h" stop mariadb
done
safe=""
for h in db1 db2 db3; do
  safe+="$h=$(sed -n 's/^safe_to_bootstrap:[[:space:]]*//p' "$(lab_root "$h")/var/lib/mysql/grastate.dat") "
done
echo "  grastate safe_to_bootstrap: $safe"
lab_result fault2.safe_to_bootstrap "\"${safe% }\""
refused1=0
if ! lab_install db1 "$B3"; then
  grep -q 'safe_to_bootstrap' "$LAB_LAST_LOG" && ! lab_svc db1 is_active mariadb && refused1=1
fi
lab_check fault2.no_bootstrap_on_unsafe "$refused1" "install.sh on db1 (safe_to_bootstrap: 0, no peer) refuses to start it (log $LAB_LAST_LOG)"
install_ok db3 "$B3" || true
boot_ok=0
grep -q 'bootstrapping a new Galera cluster' "$LAB_LAST_LOG" && boot_ok=1
lab_check fault2.bootstrap_safe_node "$boot_ok" "install.sh on db3 (safe_to_bootstrap: 1) bootstraps"
install_ok db1 "$B3" || true
install_ok db2 "$B3" || true
lab_svc db2 stop mariadb
refused2=0
if ! lab_install db2 "$B3" --bootstrap; then
  grep -q 'refusing --bootstrap' "$LAB_LAST_LOG" && ! lab_svc db2 is_active mariadb && refused2=1
fi
lab_check fault2.second_bootstrap_refused "$refused2" "install.sh --bootstrap on db2 while db1/db3 run: refused (log $LAB_LAST_LOG)"
install_ok db2 "$B3" || true
lab_wait 120 galera_synced 3 db1 db2 db3 || true
lab_wait 30 fingerprints_equal db1 db2 db3 || true
fp_after="$(table_fingerprints db1 db2 db3 | sort -u | tr '\n' ';')"
lost="$(rows_lost "$ACK" db1 db2 db3)"
ROWS_LOST=$((ROWS_LOST + lost))
ok=0
[[ "$safe" == "db1=0 db2=0 db3=1 " && "$refused1" == 1 && "$boot_ok" == 1 && "$refused2" == 1 && "$fp_after" == "$fp_before;" && "$lost" == 0 ]] &&
  galera_synced 3 db1 db2 db3 && ok=1
fault_result 2 "$ok" "bootstrap only from db3 (safe_to_bootstrap), second bootstrap refused, rows before '$fp_before' after '$fp_after', lost $lost"

step "fault 3: kill -9 mq1 while app1 publishes with confirms (ha-all classic + quorum)"
declare -A PUB_PID=()
for qt in classic quorum; do
  rm -f "$LAB_DIR/f3-confirmed-$qt"
  amqp app1 publish --addresses "$MQ_ADDRS" --queue "lab-f3-$qt" --type "$qt" --count 3000 --delay 0.003 \
    --max-seconds 240 --confirmed "$LAB_DIR/f3-confirmed-$qt" >"$LAB_DIR/logs/f3-publish-$qt.json" 2>&1 &
  PUB_PID[$qt]=$!
done
lab_wait 30 lines_at_least 1 "$LAB_DIR/f3-confirmed-classic" || true
lab_wait 30 lines_at_least 1 "$LAB_DIR/f3-confirmed-quorum" || true
sleep 2
beam_pid="$(tr -cd '0-9' <"$(lab_root mq1)/var/lib/rabbitmq/mnesia/rabbit@mq1.pid" 2>/dev/null || true)"
[[ -n "$beam_pid" && "$(cat "/proc/$beam_pid/comm" 2>/dev/null)" == beam.smp ]] || die "mq1's beam pid not found"
kill -9 "$beam_pid"
echo "  killed mq1 beam.smp (pid $beam_pid) after $(wc -l <"$LAB_DIR/f3-confirmed-classic") + $(wc -l <"$LAB_DIR/f3-confirmed-quorum") confirms"
for qt in classic quorum; do
  wait "${PUB_PID[$qt]}" || true
done
install_ok mq1 "$B3" || true
lab_wait 60 mq_all_running || true
mq_check after_fault3
f3_ok=1
[[ "$MQ_GOOD" == 3 ]] || f3_ok=0
for qt in classic quorum; do
  pub="$(cat "$LAB_DIR/logs/f3-publish-$qt.json")"
  drained="$(amqp app1 drain --addresses "$MQ_ADDRS" --queue "lab-f3-$qt" --confirmed "$LAB_DIR/f3-confirmed-$qt" --max-seconds 120 || true)"
  lab_result "fault3.publish_$qt" "$pub"
  lab_result "fault3.drain_$qt" "$drained"
  l="$(json_get "$drained" lost)"
  [[ "$l" =~ ^[0-9]+$ ]] || { l=999999; f3_ok=0; }
  MSGS_LOST=$((MSGS_LOST + l))
  [[ "$l" == 0 && "$(json_get "$pub" ok)" == True && "$(json_get "$pub" confirmed)" == 3000 ]] || f3_ok=0
  echo "  $qt: $(json_get "$pub" confirmed) confirmed ($(json_get "$pub" nacks) nacks, $(json_get "$pub" republished) re-published, $(json_get "$pub" reconnects) reconnects), $(json_get "$drained" consumed) consumed, lost $l"
done
fault_result 3 "$f3_ok" "every confirmed message consumed after the kill, mq1 rejoined ($MQ_GOOD/3 list all running)"

step "fault 4: install.sh re-run on healthy nodes changes nothing (db2 mq2 app2 arb1)"
# snapshot HOST: hashes of the files install.sh owns (etc, opt, cookie) + the unit's pid
snapshot() {
  local root
  root="$(lab_root "$1")"
  (cd "$root" && find etc opt var/lib/rabbitmq/.erlang.cookie -type f 2>/dev/null | sort | xargs -r sha256sum)
  local p
  for p in "$root/run/wcbundle/"*.pid; do
    [[ -f "$p" ]] && printf '%s %s\n' "$p" "$(cat "$p")"
  done
}
f4_ok=1
for h in db2 mq2 app2 arb1; do
  before="$(snapshot "$h")"
  rc=0
  lab_install "$h" "$(lab_bundle_of "$h")" || rc=$?
  after="$(snapshot "$h")"
  same=0
  [[ "$rc" == 0 && "$before" == "$after" ]] && grep -q 'Nothing changed' "$LAB_LAST_LOG" && same=1
  [[ "$same" == 1 ]] || f4_ok=0
  lab_check "fault4.$h" "$same" "exit $rc, files and pids unchanged, 'Nothing changed' said (log $LAB_LAST_LOG)"
  [[ "$same" == 1 ]] || diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -n 10 | sed 's/^/        | /'
done
fault_result 4 "$f4_ok" "re-runs on db2, mq2, app2, arb1 changed nothing"

# ------------------------------------------------------------------------------------------
step "final state"
galera_check final_a 3 db1 db2 db3
ga="$GALERA_GOOD"
galera_check final_b 3 dba1 dba2
gb="$GALERA_GOOD"
mq_check final
GALERA_SYNCED=$((ga + gb))
ARB="$([[ "$arb_ok" == 1 && "$(lab_wsrep dba1 wsrep_cluster_size)" == 3 ]] && echo ok || echo FAILED)"
[[ "$ARB" == ok ]] || LAB_FAILS=$((LAB_FAILS + 1))
[[ "$ROWS_LOST" == 0 && "$MSGS_LOST" == 0 ]] || LAB_FAILS=$((LAB_FAILS + 1))

step "secrets: no generated secret appears in any install.sh output, installer log or daemon log"
leaks=0
searched=0
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

step "teardown"
teardown
left="$(ip netns list | grep -c "^$LAB_NS_PREFIX" || true)"
lab_check teardown "$([[ "$left" == 0 ]] && ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1 && [[ ! -e "$LAB_NETNS_ETC/${LAB_NS_PREFIX}db1" ]] && echo 1 || echo 0)" \
  "processes stopped by pid, $left lab namespaces left, bridge and /etc/netns entries removed"
summary
[[ "$LAB_FAILS" == 0 ]]
