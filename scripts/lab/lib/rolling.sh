#!/usr/bin/env bash
# The lab's rolling upgrade (issue 14 point 6): every node of site A upgraded through
# `install.sh --upgrade`, one at a time in the vendors' order (db1 db2 db3, then mq1 mq2 mq3, then
# app1 app2; then `--upgrade --finalize` on mq1), under the faults' write and publish load
# (lib/faults.sh load_start: acknowledged inserts through the JDBC host order, confirms to an ha-all
# classic and a quorum queue).
# Debian's binaries do not change here, so the roll is restart-only: the update bundle is
# make_bundle.py --since (an update whose base is the lab bundle, carrying no package and the site's
# own site/ files), and install.sh skips only its package steps (the WCB_SKIP_PHASES seam names
# `packages`; its log says "packages: skipped"). The gates, drain, stop, start, the wait for Synced
# (IST), revive and enable_feature_flag are real.
# Checks: each node's run exits 0 and restarted its services (new pids); a db node rejoined by IST and
# the cluster is whole again; db2's --upgrade, started while db1 is still rejoining, is refused by the
# db gate (exit 3, nothing stopped); a re-run changes nothing; every acknowledged row is on every db
# node and every confirmed message is drained; the longest write and publish gaps inside the roll
# (gaps.py over the loads' acknowledgement times).
# Sourced by run.sh after lib/faults.sh (uses lab_install, lab_check, lab_result, load_start,
# load_stop_check, marks_of, transfer_kind, galera_synced, mq_all_running, B3, LAB_DIR, LAB_SCRIPTS).
# `LAB_FAULTS` without `rolling-upgrade` skips it (reported as not run). Sets UPGRADE_WORDS, the
# summary line's words.

# shellcheck disable=SC2034 # read by run.sh's summary line
UPGRADE_WORDS="upgrade not run"
ROLL_ORDER=(db1 db2 db3 mq1 mq2 mq3 app1 app2)
ROLL_NODES_OK=0

# roll_pids HOST: "unit=pid ..." of HOST's running daemons (mariadbd, beam, the app), for restart proofs
roll_pids() {
  local h="$1" out="" p kv f
  for kv in "mariadb=run/wcbundle/mariadb.pid" "beam=var/lib/rabbitmq/mnesia/rabbit@$h.pid" "workcenter=run/wcbundle/workcenter.pid"; do
    f="$(lab_root "$h")/${kv#*=}"
    [[ -f "$f" ]] || continue
    p="$(tr -cd '0-9' <"$f")"
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then
      out+="${kv%%=*}=$p "
    fi
  done
  printf '%s\n' "${out% }"
}

# roll_installer_log HOST: the newest installer log under HOST's root (it names every command run)
roll_installer_log() {
  local f newest=""
  for f in "$(lab_root "$1")"/var/log/wcbundle/install-*.log; do
    [[ -f "$f" && (-z "$newest" || "$f" -nt "$newest") ]] && newest="$f"
  done
  printf '%s\n' "$newest"
}

# roll_restarted BEFORE AFTER: true when every daemon of BEFORE runs again under another pid in AFTER
roll_restarted() {
  local kv
  [[ -n "$1" ]] || return 1
  for kv in $1; do
    [[ " $2 " == *" ${kv%%=*}="* && " $2 " != *" $kv "* ]] || return 1
  done
}

# roll_bundle OUT OLD: a restart-only update of site A's bundle OLD (an install or an update bundle) in
# OUT; prints its path
roll_bundle() {
  local bu="$1" old="$2" log
  log="$LAB_DIR/logs/$(basename "$bu").log"
  (cd "$LAB_REPO" && python3 -m scripts.lab.make_bundle "$LAB_SCRIPTS/site-3db.yaml" "$LAB_DIR/WorkCenter.jar" \
    "$bu" --since "$old") >"$log" 2>&1 || { cat "$log" >&2; return 1; }
  chmod -R a+rX,go-w "$bu"
  chmod 0600 "$bu/site/secrets.env"
  printf '%s\n' "$bu"
}

# roll_node_check HOST RC LOG BEFORE MARKS SECONDS: the proofs of one node's upgrade; counts ROLL_NODES_OK
roll_node_check() {
  local h="$1" rc="$2" log="$3" before="$4" marks="$5" secs="$6" after ok=1 kind="-" state="" ilog drained
  after="$(roll_pids "$h")"
  [[ "$rc" == 0 ]] || ok=0
  grep -q "^\[upgrade\] $h: .* upgraded and back" "$log" || ok=0
  grep -q 'packages: skipped (WCB_SKIP_PHASES names packages)' "$log" || ok=0
  roll_restarted "$before" "$after" || ok=0
  case "$h" in
    db*)
      kind="$(transfer_kind "$h" "$marks")"
      [[ "$kind" == IST ]] || ok=0
      galera_synced 3 db1 db2 db3 || ok=0
      state="galera: $(lab_wsrep "$h" wsrep_local_state_comment), size $(lab_wsrep "$h" wsrep_cluster_size), rejoined by $kind"
      ;;
    mq*)
      lab_wait 30 mq_all_running || ok=0
      ilog="$(roll_installer_log "$h")"
      drained=0
      grep -q "rabbitmq-upgrade rabbit@$h drain" "$ilog" && grep -q "rabbitmq-upgrade rabbit@$h revive" "$ilog" && drained=1
      [[ "$drained" == 1 ]] || ok=0
      state="rabbitmq: $(mq_running_count mq1)/3 running; rabbitmq-upgrade drain and revive run: $drained ($ilog)"
      ;;
    app*)
      grep -q '^\[health\] ok' "$log" || ok=0
      state="$(grep '^\[health\]' "$log" | tail -n1)"
      ;;
  esac
  [[ "$ok" == 1 ]] && ROLL_NODES_OK=$((ROLL_NODES_OK + 1))
  lab_result "upgrade.per_node.$h" "$(printf '{"ok": %s, "exit": %s, "seconds": %s, "pids_before": "%s", "pids_after": "%s", "transfer": "%s"}' \
    "$([[ "$ok" == 1 ]] && echo true || echo false)" "$rc" "$secs" "$before" "$after" "$kind")"
  lab_check "upgrade.$h" "$ok" "install.sh --upgrade: exit $rc in $secs s, restarted ($before -> $after), $state (log $log)"
  if [[ "$ok" != 1 ]]; then
    tail -n 20 "$log" | sed 's/^/        | /'
  fi
}

# rolling_upgrade: the roll under load, its data check, gaps and report entries
rolling_upgrade() {
  step "rolling upgrade: install.sh --upgrade on db1 db2 db3 mq1 mq2 mq3 app1 app2, one at a time, under load"
  local bu h rc before marks t0 n log1 job seen="" i st rc2 log2 refused=0 gate_said db2_before t_start t_end
  local fin_rc=0 fin_ok=0 flags rerun_ok=0 rerun_before ok=0 wgap pgap wj pj
  bu="$(roll_bundle "$LAB_DIR/bundle-3db-update" "$B3")" || die "building the update bundle failed"
  echo "  update bundle $(sed -n 's/^WCB_BUNDLE_ID=//p' "$bu/bundle.env") on base $(sed -n 's/^WCB_BASE_BUNDLE_ID=//p' "$bu/bundle.env") (no package: restart only)"
  # shellcheck disable=SC2034 # read by load_start: the roll may outlast the faults' 600 s
  F_PUB_SECONDS=1800
  load_start rolling-upgrade
  unset F_PUB_SECONDS
  t_start="$EPOCHREALTIME"
  ROLL_NODES_OK=0

  # db1 in the background; db2's --upgrade while db1 is still rejoining must be refused by the db gate
  marks="$(marks_of db1 db2 db3)"
  before="$(roll_pids db1)"
  db2_before="$(roll_pids db2)"
  t0=$SECONDS
  n=$((LAB_INSTALL_RUNS + 1))
  log1="$LAB_DIR/logs/$(printf '%02d' "$n")-db1-install.log"
  (lab_install db1 "$bu" --upgrade) &
  job=$!
  LAB_INSTALL_RUNS=$n
  for ((i = 0; i < 600; i++)); do
    st="$(lab_wsrep db1 wsrep_local_state_comment)"
    if [[ "$st" != Synced ]]; then
      seen="${st:-not answering}"
      break
    fi
    kill -0 "$job" 2>/dev/null || break
    sleep 0.2
  done
  rc2=0
  lab_install db2 "$bu" --upgrade || rc2=$?
  log2="$LAB_LAST_LOG"
  gate_said="$(grep -E '^    db1 (does not answer|is [A-Za-z/]+, not Synced)' "$log2" | head -n1 | sed 's/^ *//')"
  if [[ "$rc2" == 3 && -n "$gate_said" ]] && grep -q 'gate db failed on db2' "$log2" &&
    [[ "$(roll_pids db2)" == "$db2_before" && ! -e "$(lab_root db2)/var/lib/wcbundle/upgrade-in-progress" ]]; then
    refused=1
  fi
  lab_check upgrade.second_node_refused "$refused" \
    "db2's --upgrade while db1 was ${seen:-Synced (never seen down)}: exit $rc2, '${gate_said:-no db1 line}'; db2's mariadbd untouched (log $log2)"
  lab_result upgrade.second_node_refused "$(printf '{"ok": %s, "exit": %s, "db1_seen": "%s", "gate": "%s"}' \
    "$([[ "$refused" == 1 ]] && echo true || echo false)" "$rc2" "${seen:-Synced}" "${gate_said//\"/\'}")"
  rc=0
  wait "$job" || rc=$?
  roll_node_check db1 "$rc" "$log1" "$before" "$marks" "$((SECONDS - t0))"

  for h in "${ROLL_ORDER[@]:1}"; do
    marks="$(marks_of db1 db2 db3)"
    before="$(roll_pids "$h")"
    t0=$SECONDS
    rc=0
    lab_install "$h" "$bu" --upgrade || rc=$?
    roll_node_check "$h" "$rc" "$LAB_LAST_LOG" "$before" "$marks" "$((SECONDS - t0))"
  done

  # every mq node runs this RabbitMQ now: --finalize enables the feature flags
  lab_install mq1 "$bu" --upgrade --finalize || fin_rc=$?
  flags="$(lab_rmqctl mq1 list_feature_flags name state --formatter json 2>/dev/null | python3 -c '
import json, sys
f = json.load(sys.stdin)
print(len(f), sum(1 for x in f if x.get("state") != "enabled"))' 2>/dev/null || echo "? ?")"
  [[ "$fin_rc" == 0 && "${flags#* }" == 0 ]] && grep -q '^\[finalize\] every mq node runs RabbitMQ' "$LAB_LAST_LOG" && fin_ok=1
  lab_check upgrade.finalize "$fin_ok" "install.sh --upgrade --finalize on mq1: exit $fin_rc; feature flags: ${flags% *} listed, ${flags#* } not enabled (log $LAB_LAST_LOG)"
  t_end="$EPOCHREALTIME"

  # a re-run after success changes nothing
  rerun_before="$(roll_pids db2)"
  rc=0
  lab_install db2 "$bu" --upgrade || rc=$?
  [[ "$rc" == 0 && "$(roll_pids db2)" == "$rerun_before" ]] && grep -q '^\[plan\] nothing to do' "$LAB_LAST_LOG" &&
    grep -q 'Nothing changed' "$LAB_LAST_LOG" && rerun_ok=1
  lab_check upgrade.rerun "$rerun_ok" "install.sh --upgrade again on db2: exit $rc, plan 'nothing to do', mariadbd not restarted (log $LAB_LAST_LOG)"

  load_stop_check db1 db2 db3
  wj="$(python3 "$LAB_SCRIPTS/gaps.py" --from "$t_start" --to "$t_end" "insert=$F_ACK.times" || true)"
  pj="$(python3 "$LAB_SCRIPTS/gaps.py" --from "$t_start" --to "$t_end" \
    "classic=$LAB_DIR/confirmed-rolling-upgrade-classic.times" "quorum=$LAB_DIR/confirmed-rolling-upgrade-quorum.times" || true)"
  [[ -n "$wj" ]] || wj=null
  [[ -n "$pj" ]] || pj=null
  wgap="$(json_get "$wj" longest_gap_s 2>/dev/null || true)"
  pgap="$(json_get "$pj" longest_gap_s 2>/dev/null || true)"
  [[ "$wgap" =~ ^[0-9.]+$ ]] || wgap=null
  [[ "$pgap" =~ ^[0-9.]+$ ]] || pgap=null
  [[ "$ROLL_NODES_OK" == "${#ROLL_ORDER[@]}" && "$refused" == 1 && "$fin_ok" == 1 && "$rerun_ok" == 1 && "$F_DATA_OK" == 1 &&
    "$wgap" != null && "$pgap" != null ]] && ok=1
  lab_result upgrade.ok "$([[ "$ok" == 1 ]] && echo true || echo false)"
  lab_result upgrade.run true
  lab_result upgrade.nodes "$ROLL_NODES_OK"
  lab_result upgrade.nodes_total "${#ROLL_ORDER[@]}"
  lab_result upgrade.order "\"${ROLL_ORDER[*]}, then --finalize on mq1\""
  lab_result upgrade.rows_acked "$F_ROWS_ACKED"
  lab_result upgrade.rows_lost "$F_ROWS_LOST"
  lab_result upgrade.messages_confirmed "$F_MSGS_CONFIRMED"
  lab_result upgrade.messages_lost "$F_MSGS_LOST"
  lab_result upgrade.longest_write_gap_s "$wgap"
  lab_result upgrade.longest_publish_gap_s "$pgap"
  lab_result upgrade.seconds "$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$t_start" "$t_end")"
  lab_result upgrade.write_gaps "$wj"
  lab_result upgrade.publish_gaps "$pj"
  lab_result upgrade.package_step '"skipped by the WCB_SKIP_PHASES seam (Debian binaries): a restart-only roll"'
  lab_check upgrade "$ok" "$ROLL_NODES_OK/${#ROLL_ORDER[@]} nodes upgraded one at a time, second node refused while db1 rejoined ($refused), finalize ($fin_ok), re-run idle ($rerun_ok); longest write gap ${wgap} s, publish gap ${pgap} s; $F_DATA_DETAIL"
  # shellcheck disable=SC2034 # read by run.sh's summary line
  UPGRADE_WORDS="upgrade $ROLL_NODES_OK/${#ROLL_ORDER[@]} nodes, gaps write ${wgap}s publish ${pgap}s"
}

# rolling_maybe: the rolling upgrade when LAB_FAULTS wants it (unset, or naming rolling-upgrade); else "not run"
rolling_maybe() {
  if fault_wanted rolling-upgrade; then
    rolling_upgrade
  else
    lab_result upgrade.run false
    lab_result upgrade.ok null
    printf '  not run  upgrade: LAB_FAULTS does not name rolling-upgrade\n'
  fi
}
