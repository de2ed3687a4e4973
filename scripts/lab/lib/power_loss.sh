#!/usr/bin/env bash
# power-loss recovery for the lab (issue 13 point 2). run.sh's fault_power_loss kills every mariadbd,
# garbd, beam and app process at once under load, then calls power_loss_recover, which does what the
# README's runbook ("A power cut") tells an operator, with the installer's own commands:
#   1. the boot: every host starts its enabled units at once (the direct backend's start, as systemd
#      would at boot: plain `start`, never a bootstrap), bounded by WCB_SERVICE_TIMEOUT;
#   2. what the boot gave, per db node (running? wsrep_cluster_status): Galera's pc.recovery re-forms
#      the last Primary Component by itself only when every member of it returns;
#   3. install.sh --recover on every db node of a site at once (the operator runs it on each; they
#      exchange positions and bootstrap only the most advanced), then the arbitrator, the mq nodes, the
#      app nodes (install.sh --recover each).
# Sets PL_DETAIL (what happened, for the report); returns 0 when every cluster is whole again.
# Sourced by run.sh (uses lab_svc, lab_install, lab_wsrep, lab_check, lab_result, galera_synced, B3, BA,
# PL_UUID_A/B: each site's state UUID before the cut).

PL_DETAIL=""
PL_B_ROWS=0

# pl_lag_site_b: dba1 stopped (orderly: a node down for maintenance when the power goes), then rows
# committed on dba2 (dba2 + garbd keep quorum): dba2 is now ahead of dba1; sets PL_B_ROWS (acknowledged)
pl_lag_site_b() {
  local i
  lab_svc dba1 stop mariadb >>"$LAB_DIR/logs/power-loss-dba1-stop.log" 2>&1 || true
  lab_wait 30 pl_primary_size dba2 2 || true
  lab_sql dba2 "CREATE DATABASE IF NOT EXISTS labcheck; CREATE TABLE IF NOT EXISTS labcheck.power_b (id INT PRIMARY KEY) ENGINE=InnoDB" || true
  for ((i = 1; i <= 20; i++)); do
    lab_sql dba2 "INSERT INTO labcheck.power_b (id) VALUES ($i)" && PL_B_ROWS=$((PL_B_ROWS + 1))
  done
  echo "  site B before the cut: dba1 stopped (maintenance), dba2 + garbd Primary/$(lab_wsrep dba2 wsrep_cluster_size), $PL_B_ROWS rows committed on dba2 alone"
}

# pl_primary_size HOST N: HOST is Primary with cluster size N
pl_primary_size() {
  [[ "$(lab_wsrep "$1" wsrep_cluster_status)" == Primary && "$(lab_wsrep "$1" wsrep_cluster_size)" == "$2" ]]
}

# pl_boot HOST UNIT...: start HOST's units in order, as its boot would (output in logs/boot-HOST.log)
pl_boot() {
  local h="$1" u
  shift
  for u in "$@"; do
    printf '== start %s\n' "$u"
    # a unit's start waits at most 120 s for readiness (systemd's default start timeout is 90 s)
    WCB_SERVICE_TIMEOUT=120 lab_svc "$h" start "$u" || printf '== start %s failed (exit %s)\n' "$u" "$?"
  done >>"$LAB_DIR/logs/boot-$h.log" 2>&1
}

# pl_parallel_install ARG... -- HOST...: install.sh ARG... on every HOST at once; sets PL_RC[host], PL_LOG[host]
declare -A PL_RC=() PL_LOG=()
pl_parallel_install() {
  local -a args=() hosts=()
  local h
  declare -A pids=()
  while [[ "$1" != -- ]]; do args+=("$1"); shift; done
  shift
  hosts=("$@")
  for h in "${hosts[@]}"; do
    # lab_install numbers its log from LAB_INSTALL_RUNS: a subshell's increment is lost, so count here
    (lab_install "$h" "$(lab_bundle_of "$h")" "${args[@]}") &
    pids[$h]=$!
    LAB_INSTALL_RUNS=$((LAB_INSTALL_RUNS + 1))
    PL_LOG[$h]="$LAB_DIR/logs/$(printf '%02d' "$LAB_INSTALL_RUNS")-$h-install.log"
  done
  for h in "${hosts[@]}"; do
    PL_RC[$h]=0
    wait "${pids[$h]}" || PL_RC[$h]=$?
    lab_check "power-loss.recover.$h" "$([[ "${PL_RC[$h]}" == 0 ]] && echo 1 || echo 0)" \
      "install.sh ${args[*]} on $h: exit ${PL_RC[$h]} (log ${PL_LOG[$h]})"
    [[ "${PL_RC[$h]}" == 0 ]] || tail -n 25 "${PL_LOG[$h]}" | sed 's/^/        | /'
  done
}

# pl_db_state HOST: "HOST=down", or "HOST=<wsrep_cluster_status>/<wsrep_cluster_size>"
pl_db_state() {
  local s
  if ! lab_svc "$1" is_active mariadb >/dev/null 2>&1; then
    printf '%s=down\n' "$1"
    return
  fi
  s="$(lab_wsrep "$1" wsrep_cluster_status)"
  printf '%s=%s/%s\n' "$1" "${s:-no-answer}" "$(lab_wsrep "$1" wsrep_cluster_size)"
}

power_loss_recover() {
  local h ok=1 boot_a boot_b booted=() t_boot boots=0 how_a how_b
  declare -A bj=()
  export WCB_RECOVER_WAIT=300
  # 1. the boot: all hosts at once; on each host its units in the registry's order
  t_boot=$SECONDS
  for h in db1 db2 db3 dba1 dba2; do pl_boot "$h" mariadb & bj[$h]=$!; done
  pl_boot arb1 garb & bj[arb1]=$!
  for h in mq1 mq2 mq3; do pl_boot "$h" rabbitmq-server & bj[$h]=$!; done
  for h in app1 app2; do pl_boot "$h" workcenter & bj[$h]=$!; done
  for h in "${!bj[@]}"; do wait "${bj[$h]}" || true; done
  # 2. what the boot alone gave
  boot_a="$(for h in db1 db2 db3; do pl_db_state "$h"; done | tr '\n' ' ')"
  boot_b="$(for h in dba1 dba2; do pl_db_state "$h"; done | tr '\n' ' ')"
  echo "  after the boot ($((SECONDS - t_boot)) s): site A ${boot_a% }; site B ${boot_b% }; mq running on mq1: $(lab_running_nodes mq1 | tr '\n' ' ')"
  lab_result faults_detail.power-loss.after_boot "\"site A: ${boot_a% }; site B: ${boot_b% }\""
  # what the runbook's first step shows: install.sh --status on a db node of each site (rows in the report)
  for h in db1 dba1 mq1; do
    echo "  install.sh --status on $h after the boot: $(status_run "$h" | tr '\t' ' ')"
  done
  # 3. the runbook: install.sh --recover on every db node of a site at once, then the others
  pl_parallel_install --recover -- db1 db2 db3 dba1 dba2
  pl_parallel_install --recover -- arb1 mq1 mq2 mq3
  pl_parallel_install --recover -- app1 app2
  for h in db1 db2 db3 dba1 dba2 arb1 mq1 mq2 mq3 app1 app2; do
    [[ "${PL_RC[$h]:-1}" == 0 ]] || ok=0
  done
  # which path each site took: pc.recovery (every node Primary after the boot, nothing bootstrapped)
  # or the installer's (exactly one bootstrap, on the node the position table named)
  for h in db1 db2 db3 dba1 dba2; do
    if grep -q 'bootstrapping the cluster from it' "${PL_LOG[$h]}" 2>/dev/null; then
      booted+=("$h")
      boots=$((boots + 1))
    fi
  done
  how_a="$(path_of "$boot_a" db1 db2 db3)"
  how_b="$(path_of "$boot_b" dba1 dba2)"
  lab_wait 120 galera_synced 3 db1 db2 db3 || ok=0
  lab_wait 120 galera_synced 3 dba1 dba2 || ok=0
  lab_wait 120 mq_all_running || ok=0
  [[ "$(lab_wsrep dba1 wsrep_cluster_size)" == 3 ]] || ok=0
  [[ "$how_a" != FAIL* && "$how_b" != FAIL* ]] || ok=0
  pl_history A db1 "$PL_UUID_A" || ok=0
  pl_history B dba1 "$PL_UUID_B" || ok=0
  # site B: dba2 (ahead) bootstrapped, and what it alone committed reached dba1
  local b1 b2 booted_b=""
  for h in dba1 dba2; do
    if [[ " ${booted[*]:-} " == *" $h "* ]]; then booted_b+="${booted_b:+ }$h"; fi
  done
  b1="$(lab_sqlc dba1 "SELECT COUNT(*) FROM labcheck.power_b" 2>/dev/null || echo none)"
  b2="$(lab_sqlc dba2 "SELECT COUNT(*) FROM labcheck.power_b" 2>/dev/null || echo none)"
  lab_check power-loss.most_advanced_b "$([[ "$booted_b" == dba2 && "$PL_B_ROWS" -gt 0 && "$b1" == "$PL_B_ROWS" && "$b2" == "$PL_B_ROWS" ]] && echo 1 || echo 0)" \
    "site B: bootstrapped by --recover: ${booted_b:-none} (must be dba2, ahead of dba1 by $PL_B_ROWS rows); rows on dba1 $b1, on dba2 $b2"
  [[ "$booted_b" == dba2 && "$b1" == "$PL_B_ROWS" && "$b2" == "$PL_B_ROWS" ]] || ok=0
  PL_DETAIL="site A: $how_a; site B: $how_b; bootstrapped by --recover: ${booted[*]:-none}"
  lab_result faults_detail.power-loss.paths "\"$PL_DETAIL\""
  echo "  $PL_DETAIL"
  [[ "$ok" == 1 ]]
}

# pl_history SITE HOST UUID: the site's state UUID after the recovery is UUID, the one before the cut
pl_history() {
  local now
  now="$(lab_wsrep "$2" wsrep_cluster_state_uuid)"
  lab_check "power-loss.history_$1" "$([[ -n "$3" && "$now" == "$3" ]] && echo 1 || echo 0)" \
    "site $1's state UUID before the cut ${3:-none}, after the recovery ${now:-none} (the cluster's history kept: later joiners can use IST)"
  [[ -n "$3" && "$now" == "$3" ]]
}

# path_of BOOT_STATES HOST...: how a site came back: "pc.recovery" (Primary after the boot alone, no
# bootstrap) or "install.sh --recover bootstrapped X (the most advanced: seqno ...)"; FAIL when two
# nodes bootstrapped, or one bootstrapped that the table did not show as the most advanced
path_of() {
  local states="$1" h n=0 who="" line max=-1 s
  shift
  for h in "$@"; do
    if grep -q 'bootstrapping the cluster from it' "${PL_LOG[$h]}" 2>/dev/null; then
      n=$((n + 1))
      who="$h"
    fi
  done
  if [[ "$n" == 0 ]]; then
    for h in "$@"; do
      [[ " $states " == *" $h=Primary/"* ]] || { printf 'FAIL: no bootstrap, yet %s was not Primary after the boot\n' "$h"; return; }
    done
    printf 'pc.recovery re-formed the Primary Component at boot; --recover found it Primary and bootstrapped nothing\n'
    return
  fi
  [[ "$n" == 1 ]] || { printf 'FAIL: %s nodes bootstrapped\n' "$n"; return; }
  # the bootstrapper's own table: every node's seqno; the bootstrapper must hold the largest
  line="$(sed -n "s/.*holds the most advanced position (\([^)]*\)).*/\1/p" "${PL_LOG[$who]}" | head -n1)"
  for h in "$@"; do
    s="$(grep -h "^Error\|this node's position" "${PL_LOG[$h]}" 2>/dev/null | sed -n "s/.*this node's position: [0-9a-f-]*:\([0-9]*\).*/\1/p" | head -n1)"
    [[ "$s" =~ ^[0-9]+$ ]] && ((s > max)) && max="$s"
  done
  if [[ "${line##*:}" =~ ^[0-9]+$ && "${line##*:}" -ge "$max" ]]; then
    printf 'install.sh --recover bootstrapped %s, the most advanced (%s; highest position read on the site %s), the others joined\n' "$who" "$line" "$max"
  else
    printf 'FAIL: %s bootstrapped at %s, but a node read %s\n' "$who" "${line:-?}" "$max"
  fi
}
