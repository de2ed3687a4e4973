#!/usr/bin/env bash
# The lab's faults (issue 13), each under write load and publish load, with the data checked after:
#   write load    insert_loop.sh from app1 through the JDBC URL's host order (db1, db2, db3): an id is
#                 acknowledged only when the server said OK; each fault has its own id range
#   publish load  amqp_confirm.py from app1 with publisher confirms to an ha-all classic queue and a
#                 quorum queue (addresses mq1, mq2, mq3 in order), until the fault's stop file appears
#   data check    every acknowledged row on every db node, count + CHECKSUM TABLE equal on all of
#                 them; every confirmed message drained from each queue
# Sourced by run.sh (uses lab_check, lab_result, lab_install, B3, DB_APP_USER, MQ_ADDRS, amqp).

FAULT_SEQ=0
FAULTS_RUN=0
FAULTS_NOT_RUN=()
declare -a FAULT_PUB_PIDS=()

# load_start NAME: start both loads for fault NAME; waits (bounded) until both make progress.
# F_ADDRS_classic / F_ADDRS_quorum (set by a fault before) pick the publishers' address order;
# F_PUB_SECONDS (default 600) bounds the publishers' run.
load_start() {
  local name="$1" qt first
  FAULT_SEQ=$((FAULT_SEQ + 1))
  first=$((FAULT_SEQ * 1000000))
  F_NAME="$name"
  F_ACK="$LAB_DIR/acked-$name"
  F_STOP="$LAB_DIR/stop-$name"
  : >"$F_ACK"
  : >"$F_ACK.times"
  rm -f "$F_STOP"
  MYSQL_PWD="$(lab_secret "$B3" WCB_DB_APP_PASSWORD)" lab_exec app1 "$LAB_SCRIPTS/insert_loop.sh" \
    198.18.0.11,198.18.0.12,198.18.0.13 "$DB_APP_USER" workcenter "$first" 900000 "$F_STOP" "$F_ACK" "$F_ACK.times" \
    >"$LAB_DIR/logs/insert-$name.json" 2>&1 &
  F_INSERT_PID=$!
  FAULT_PUB_PIDS=()
  for qt in classic quorum; do
    : >"$LAB_DIR/confirmed-$name-$qt"
    : >"$LAB_DIR/confirmed-$name-$qt.times"
    # the address order decides where the queue's master/leader lives (the node the client declared
    # it on): F_ADDRS_<type> per fault, else the app's order mq1, mq2, mq3
    local addrs_var="F_ADDRS_$qt"
    amqp app1 publish --addresses "${!addrs_var:-$MQ_ADDRS}" --queue "lab-$name-$qt" --type "$qt" --count 100000 --delay 0.03 \
      --max-seconds "${F_PUB_SECONDS:-600}" --stop-file "$F_STOP" --confirmed "$LAB_DIR/confirmed-$name-$qt" \
      --times "$LAB_DIR/confirmed-$name-$qt.times" >"$LAB_DIR/logs/publish-$name-$qt.json" 2>&1 &
    FAULT_PUB_PIDS+=($!)
  done
  lab_wait 60 lines_at_least 20 "$F_ACK" || true
  lab_wait 60 lines_at_least 20 "$LAB_DIR/confirmed-$name-classic" || true
  lab_wait 60 lines_at_least 20 "$LAB_DIR/confirmed-$name-quorum" || true
}

# load_counts: print "rows M, confirms C+Q" so far
load_counts() {
  printf 'rows %s, confirms %s+%s' "$(wc -l <"$F_ACK")" "$(wc -l <"$LAB_DIR/confirmed-$F_NAME-classic")" \
    "$(wc -l <"$LAB_DIR/confirmed-$F_NAME-quorum")"
}

# load_stop_check HOST...: stop both loads (bounded), then check the data on the db HOSTs and the queues;
# sets F_ROWS_ACKED F_ROWS_LOST F_MSGS_CONFIRMED F_MSGS_LOST F_DATA_OK F_DATA_DETAIL
load_stop_check() {
  local qt pid l fp drained pub
  touch "$F_STOP"
  lab_wait 60 pid_gone "$F_INSERT_PID" || kill "$F_INSERT_PID" 2>/dev/null || true
  wait "$F_INSERT_PID" 2>/dev/null || true
  for pid in "${FAULT_PUB_PIDS[@]}"; do
    lab_wait 120 pid_gone "$pid" || kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  F_DATA_OK=1
  lab_wait 60 fingerprints_equal "$@" || true
  fp="$(table_fingerprints "$@" | tr '\n' ';')"
  fingerprints_equal "$@" || F_DATA_OK=0
  F_ROWS_ACKED="$(wc -l <"$F_ACK")"
  F_ROWS_LOST="$(rows_lost "$F_ACK" "$@")"
  [[ "$F_ROWS_LOST" =~ ^[0-9]+$ ]] || F_ROWS_LOST=999999
  [[ "$F_ROWS_LOST" == 0 && "$F_ROWS_ACKED" -gt 0 ]] || F_DATA_OK=0
  F_MSGS_CONFIRMED=0
  F_MSGS_LOST=0
  F_DATA_DETAIL="$F_ROWS_ACKED rows acked, $F_ROWS_LOST lost, count+checksum on $*: $fp"
  for qt in classic quorum; do
    pub="$(tail -n1 "$LAB_DIR/logs/publish-$F_NAME-$qt.json" 2>/dev/null)"
    drained="$(amqp app1 drain --addresses "$MQ_ADDRS" --queue "lab-$F_NAME-$qt" \
      --confirmed "$LAB_DIR/confirmed-$F_NAME-$qt" --max-seconds 120 2>/dev/null || true)"
    [[ -n "$drained" ]] || drained='{}'
    [[ -n "$pub" ]] || pub='{}'
    l="$(json_get "$drained" lost 2>/dev/null || true)"
    [[ "$l" =~ ^[0-9]+$ ]] || { l=999999; F_DATA_OK=0; }
    lab_result "faults_detail.$F_NAME.publish_$qt" "$pub"
    lab_result "faults_detail.$F_NAME.drain_$qt" "$drained"
    F_MSGS_CONFIRMED=$((F_MSGS_CONFIRMED + $(wc -l <"$LAB_DIR/confirmed-$F_NAME-$qt")))
    F_MSGS_LOST=$((F_MSGS_LOST + l))
    [[ "$(json_get "$pub" ok 2>/dev/null || true)" == True ]] || F_DATA_OK=0
    F_DATA_DETAIL+="; $qt: $(wc -l <"$LAB_DIR/confirmed-$F_NAME-$qt") confirmed, lost $l"
  done
  [[ "$F_MSGS_LOST" == 0 && "$F_MSGS_CONFIRMED" -gt 0 ]] || F_DATA_OK=0
  ROWS_LOST=$((ROWS_LOST + F_ROWS_LOST))
  MSGS_LOST=$((MSGS_LOST + F_MSGS_LOST))
  lab_result "faults_detail.$F_NAME.insert_loop" "$(tail -n1 "$LAB_DIR/logs/insert-$F_NAME.json" 2>/dev/null || echo '"none"')"
}

# fault_done NAME 0|1 RECOVERY_S DETAIL: record fault NAME in report.json's faults list (data from
# load_stop_check); it survived only when its own checks AND the data check passed
fault_done() {
  local name="$1" ok="$2" rec="$3" detail="$4"
  [[ "$F_DATA_OK" == 1 ]] || ok=0
  FAULTS_RUN=$((FAULTS_RUN + 1))
  [[ "$ok" == 1 ]] && FAULTS_OK=$((FAULTS_OK + 1))
  lab_result "faults[]" "$(printf '{"name": "%s", "ok": %s, "run": true, "rows_acked": %s, "rows_lost": %s, "messages_confirmed": %s, "messages_lost": %s, "recovery_s": %s, "detail": "%s"}' \
    "$name" "$([[ "$ok" == 1 ]] && echo true || echo false)" "$F_ROWS_ACKED" "$F_ROWS_LOST" "$F_MSGS_CONFIRMED" \
    "$F_MSGS_LOST" "$rec" "${detail//\"/\'}; ${F_DATA_DETAIL//\"/\'}")"
  lab_check "fault.$name" "$ok" "$detail; $F_DATA_DETAIL; recovery ${rec} s"
}

# fault_not_run NAME REASON: a fault the lab cannot run yet (reported as not run, never as ok)
fault_not_run() {
  FAULTS_NOT_RUN+=("$1")
  lab_result "faults[]" "$(printf '{"name": "%s", "ok": null, "run": false, "rows_acked": null, "rows_lost": null, "messages_confirmed": null, "messages_lost": null, "recovery_s": null, "detail": "%s"}' "$1" "${2//\"/\'}")"
  printf '  not run  fault.%s: %s\n' "$1" "$2"
}

# fault_wanted NAME: true when LAB_FAULTS is unset or names NAME (mutant runs pick their faults)
fault_wanted() { [[ -z "${LAB_FAULTS:-}" || " $LAB_FAULTS " == *" $1 "* ]]; }

# log_mark FILE: print FILE's size now (a later log_since reads only what came after)
log_mark() { stat -c %s "$1" 2>/dev/null || echo 0; }

# log_since FILE MARK: print what FILE gained after MARK
log_since() { tail -c +"$(($2 + 1))" "$1" 2>/dev/null || true; }

# db_log HOST: HOST's MariaDB error log
db_log() { printf '%s/var/log/mariadb/mariadb.log\n' "$(lab_root "$1")"; }

# marks_of HOST...: "host:size" marks of the hosts' MariaDB logs
marks_of() { local h; for h in "$@"; do printf '%s:%s ' "$h" "$(log_mark "$(db_log "$h")")"; done; }

# transfer_kind JOINER MARKS: print "IST", "SST <method>" or "none" for JOINER's state transfer since MARKS
# (a donor runs wsrep_sst_<method> --role 'donor' for an SST; an IST joiner logs "IST received")
transfer_kind() {
  local joiner="$1" m h donor="" method
  for m in $2; do
    h="${m%%:*}"
    [[ "$h" == "$joiner" ]] && continue
    # a donor runs its SST script for an IST too, with --bypass (mariabackup's joiner then logs "Running
    # IST"): only a run without --bypass is a state snapshot transfer
    method="$(log_since "$(db_log "$h")" "${m#*:}" | grep -v -e '--bypass' |
      sed -n "s/.*Running: 'wsrep_sst_\([a-z]*\) --role 'donor'.*/\1/p" | head -n1)"
    [[ -n "$method" ]] && donor="$method"
  done
  if [[ -n "$donor" ]]; then
    printf 'SST %s\n' "$donor"
    return
  fi
  for m in $2; do
    [[ "${m%%:*}" == "$joiner" ]] || continue
    if log_since "$(db_log "$joiner")" "${m#*:}" | grep -q 'IST received'; then
      printf 'IST\n'
      return
    fi
  done
  printf 'none\n'
}

# sql_write_refused HOST: true when an INSERT through HOST's socket fails (a non-Primary node refuses)
sql_write_refused() {
  ! lab_sql "$1" "INSERT INTO workcenter.lab_rows (id, payload, via) VALUES ($((900000000 + RANDOM)), 'refused?', '$1')" >/dev/null 2>&1
}

# status_run HOST: install.sh --status on HOST; prints "rc<TAB>health line"; full output in the log
status_run() {
  local rc=0 log="$LAB_DIR/logs/status-$1-$SECONDS.log"
  lab_exec "$1" env WCB_ROOT="$(lab_root "$1")" WCB_SERVICE_BACKEND=direct DBUS_SYSTEM_BUS_ADDRESS="$(lab_fw_bus "$1")" \
    timeout 300 "$(lab_bundle_of "$1")/install.sh" --status >"$log" 2>&1 || rc=$?
  printf '%s\t%s\n' "$rc" "$(grep '^\[health\]' "$log" | tail -n1)"
  lab_result "status.$1.$SECONDS" "\"$(grep -E 'FAIL|warn|\[health\]' "$log" | tr '\n' '|' | sed 's/"/'"'"'/g; s/  */ /g')\""
}

# mq_paused HOST: true when HOST's Erlang node answers but its rabbit app does not run (paused)
mq_paused() {
  lab_rmqctl "$1" ping >/dev/null 2>&1 && [[ -z "$(lab_running_nodes "$1")" ]]
}

# mq_running_count HOST: how many nodes HOST lists as running
mq_running_count() { lab_running_nodes "$1" | grep -c . || true; }

# wsrep_is HOST VAR VALUE: true when HOST's wsrep status VAR is VALUE now
wsrep_is() { [[ "$(lab_wsrep "$1" "$2")" == "$3" ]]; }

# mq_count_is HOST N: true when HOST lists N running nodes now
mq_count_is() { [[ "$(mq_running_count "$1")" == "$2" ]]; }
