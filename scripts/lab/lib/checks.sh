#!/usr/bin/env bash
# The lab's proofs with real clients: Galera status/UUID/replication over each node's socket,
# RabbitMQ cluster_status through rabbitmqctl, AMQP through amqp_confirm.py, table fingerprints.
# Sourced by scripts/lab/run.sh (uses lab_check/lab_result, MQ_HOSTS, MQ_WANT, B3, LAB_SCRIPTS).

# ------------------------------------------------------------------------------------------
# galera_check LABEL SIZE HOST...: Synced, Primary, ready, size SIZE, one state UUID on every HOST
galera_check() {
  local label="$1" want="$2" h state size status uuid ready uuids="" ok=1 good=0
  shift 2
  for h in "$@"; do
    state="$(lab_wsrep "$h" wsrep_local_state_comment)"
    size="$(lab_wsrep "$h" wsrep_cluster_size)"
    status="$(lab_wsrep "$h" wsrep_cluster_status)"
    uuid="$(lab_wsrep "$h" wsrep_cluster_state_uuid)"
    ready="$(lab_wsrep "$h" wsrep_ready)"
    lab_result "galera.$label.$h" "{\"state\": \"$state\", \"size\": \"$size\", \"status\": \"$status\", \"uuid\": \"$uuid\", \"ready\": \"$ready\"}"
    if [[ "$state" == Synced && "$size" == "$want" && "$status" == Primary && "$ready" == ON ]]; then
      good=$((good + 1))
    else
      ok=0
    fi
    [[ " $uuids " == *" $uuid "* ]] || uuids+="${uuids:+ }$uuid"
  done
  [[ "$(wc -w <<<"$uuids")" == 1 ]] || ok=0
  lab_check "galera.$label" "$ok" "$good/$# Synced+Primary+ready, wsrep_cluster_size $want, state UUIDs: ${uuids:-none}"
  # shellcheck disable=SC2034 # a result for run.sh
  GALERA_GOOD="$good"
}

# galera_synced SIZE HOST...: true when every HOST is Synced with SIZE members
galera_synced() {
  local want="$1" h
  shift
  for h in "$@"; do
    [[ "$(lab_wsrep "$h" wsrep_local_state_comment)" == Synced && "$(lab_wsrep "$h" wsrep_cluster_size)" == "$want" ]] || return 1
  done
}

# galera_write_read LABEL HOST...: a row written on each HOST is readable on every other HOST
galera_write_read() {
  local label="$1" w r token seen ok=1 n=0
  shift
  lab_sql "$1" "CREATE DATABASE IF NOT EXISTS labcheck; CREATE TABLE IF NOT EXISTS labcheck.w (k VARCHAR(64) PRIMARY KEY, origin VARCHAR(16)) ENGINE=InnoDB"
  for w in "$@"; do
    token="$label-$w-$RANDOM$RANDOM"
    lab_sqlc "$w" "INSERT INTO labcheck.w VALUES ('$token', '$w')" || ok=0
    for r in "$@"; do
      [[ "$r" == "$w" ]] && continue
      seen="$(lab_sqlc "$r" "SELECT origin FROM labcheck.w WHERE k = '$token'" 2>/dev/null || true)"
      if [[ "$seen" == "$w" ]]; then n=$((n + 1)); else ok=0; fi
    done
  done
  lab_check "galera.$label.write_read" "$ok" "$n reads of rows written on another node"
}

# mq_check LABEL: every node's cluster_status lists every node as running; sets MQ_GOOD
mq_check() {
  local h seen good=0
  for h in "${MQ_HOSTS[@]}"; do
    seen="$(lab_running_nodes "$h" | tr '\n' ' ')"
    seen="${seen% }"
    lab_result "rabbitmq.$1.$h" "\"$seen\""
    [[ "$seen" == "$MQ_WANT" ]] && good=$((good + 1))
  done
  lab_check "rabbitmq.$1" "$([[ "$good" == 3 ]] && echo 1 || echo 0)" "$good/3 nodes list running nodes: $MQ_WANT"
  # shellcheck disable=SC2034 # a result for run.sh
  MQ_GOOD="$good"
}

# mq_all_running: true when every node lists every node as running
mq_all_running() {
  local h
  for h in "${MQ_HOSTS[@]}"; do
    [[ "$(lab_running_nodes "$h" | tr '\n' ' ')" == "$MQ_WANT " ]] || return 1
  done
}

# amqp HOST ARG...: the lab's AMQP client in HOST's namespace as the app mq user (password via env)
amqp() {
  local host="$1"
  shift
  AMQP_PASSWORD="$(lab_secret "$B3" WCB_MQ_APP_PASSWORD)" lab_exec "$host" \
    python3 "$LAB_SCRIPTS/amqp_confirm.py" "$@" --user "$MQ_APP_USER"
}

# json_get JSON KEY: print a top-level value of a JSON object
json_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

# ------------------------------------------------------------------------------------------
# rows_missing HOST ACKFILE: print how many acknowledged ids HOST lacks
rows_missing() {
  comm -23 <(sort -u "$2") <(lab_sqlc "$1" "SELECT id FROM workcenter.lab_rows" | sort -u) | wc -l
}

# rows_lost ACKFILE HOST...: the most acknowledged rows missing on any one HOST
rows_lost() {
  local ack="$1" h m lost=0
  shift
  for h in "$@"; do
    m="$(rows_missing "$h" "$ack")"
    (( m > lost )) && lost="$m"
  done
  echo "$lost"
}

# table_fingerprints HOST...: print "count checksum" per HOST, one line each
table_fingerprints() {
  local h
  for h in "$@"; do
    printf '%s %s\n' "$(lab_sqlc "$h" "SELECT COUNT(*) FROM workcenter.lab_rows")" \
      "$(lab_sql "$h" "CHECKSUM TABLE workcenter.lab_rows" | awk '{ print $2 }')"
  done
}

# fingerprints_equal HOST...: true when every HOST has the same count and checksum
fingerprints_equal() {
  [[ "$(table_fingerprints "$@" | sort -u | wc -l)" == 1 ]]
}

# lines_at_least N FILE: true when FILE has N lines or more
lines_at_least() { [[ -f "$2" && "$(wc -l <"$2")" -ge "$1" ]]; }

# pid_gone PID: true when PID has exited
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# ------------------------------------------------------------------------------------------
# app_check HOST IP: WorkCenter-app.yml on app node HOST (issue 18; scripts/lab/appcheck.py): the file is
# the builder's twin render and holds every key of the manual with the site's values; its first JDBC
# host and every AMQP address accept the app users; the stand-in jar the unit runs answers, naming
# the other app node as its peer; the same jar refuses copies without cluster.enable or a member.
app_check() {
  local h="$1" ip="$2" out
  out="$(lab_exec "$h" python3 "$LAB_SCRIPTS/appcheck.py" "$(lab_root "$h")/opt/workcenter/WorkCenter-app.yml" \
    --bundle "$(lab_bundle_of "$h")" --node "$h" --url "http://$ip:8080/" \
    --jar "$(lab_root "$h")/opt/workcenter/WorkCenter.jar" 2>"$LAB_DIR/logs/appcheck-$h.err" || true)"
  lab_result "app.$h" "${out:-\"appcheck.py printed nothing (logs/appcheck-$h.err)\"}"
  lab_check "app.$h.yml" "$([[ "$(json_get "$out" file_ok)" == True ]] && echo 1 || echo 0)" \
    "WorkCenter-app.yml = the builder's render: $(json_get "$out" file_matches_builder_render); manual keys $(json_get "$out" manual_keys); wrong site values: $(json_get "$out" site_values_wrong)"
  lab_check "app.$h" "$([[ "$(json_get "$out" logins_ok)" == True ]] && echo 1 || echo 0)" \
    "first JDBC host $(json_get "$out" jdbc_first_host): $(json_get "$out" jdbc_login); AMQP $(json_get "$out" mq_addresses)"
  lab_check "app.$h.standin" "$([[ "$(json_get "$out" standin_ok)" == True ]] && echo 1 || echo 0)" \
    "the unit's java -jar answers on $ip:8080: self $(json_get "$out" standin_self), cluster peers $(json_get "$out" standin_peers), reads every key as PyYAML: $(json_get "$out" standin_reads_like_pyyaml)"
  lab_check "app.$h.standin_refuses" "$([[ "$(json_get "$out" refusals_ok)" == True ]] && echo 1 || echo 0)" \
    "the same jar on copies of the file: $(json_get "$out" refusals)"
}
