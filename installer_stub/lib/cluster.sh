#!/usr/bin/env bash
# cluster.sh: phase 7/8 helpers on top of the service seam (lib/service.sh): ensure a unit, the health table.
set -euo pipefail

WCB_HEALTH_ROWS=()
WCB_HEALTH_FAILED=0
WCB_HEALTH_DEGRADED=()

# usage: wcb_unit_active UNIT   true when UNIT runs (lib/service.sh, always loaded: its backend decides how)
wcb_unit_active() {
    # stdin from /dev/null: a client (rabbitmqctl) must not eat the caller's while-read input
    wcb_service_is_active "$1" </dev/null >/dev/null 2>&1
}

# usage: wcb_svc ACTION [UNIT]   call wcb_service_ACTION UNIT through the seam (printed in dry-run)
wcb_svc() {
    local action="$1" unit="${2:-}"
    if [[ "$WCB_DRY_RUN" == 1 ]]; then
        wcb_say "    would ${action//_/ }${unit:+ service $unit}"
        WCB_CHANGES=$((WCB_CHANGES + 1))
        return 0
    fi
    wcb_log "service: $action $unit"
    WCB_CHANGES=$((WCB_CHANGES + 1))
    if [[ -n "$unit" ]]; then
        "wcb_service_$action" "$unit" >>"${WCB_LOG_FILE:-/dev/null}" 2>&1
    else
        "wcb_service_$action" >>"${WCB_LOG_FILE:-/dev/null}" 2>&1
    fi
}

# usage: wcb_unit_ensure UNIT   start+enable UNIT when stopped; restart it when its config changed; else leave it
wcb_unit_ensure() {
    local unit="$1"
    if wcb_unit_active "$unit"; then
        if wcb_is_dirty "$unit"; then
            wcb_svc restart "$unit" || wcb_die 4 "restarting $unit failed; see the log"
            wcb_note "$unit: restarted (its configuration changed)"
        else
            wcb_note "$unit: running, configuration unchanged"
        fi
        return 0
    fi
    wcb_svc enable "$unit" || wcb_die 4 "enabling $unit failed; see the log"
    wcb_svc start "$unit" || wcb_die 4 "starting $unit failed; see the log"
    [[ "$WCB_DRY_RUN" == 1 ]] || wcb_note "$unit: started"
}

# usage: wcb_health_row CHECK EXPECTED SEEN ok|warn|FAIL   add a row to the summary table
wcb_health_row() {
    WCB_HEALTH_ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4")
    wcb_log "health: $1 expected=$2 seen=$3 $4"
    [[ "$4" == FAIL ]] && WCB_HEALTH_FAILED=1
    return 0
}

# usage: wcb_health_reset   empty the summary table
wcb_health_reset() {
    WCB_HEALTH_ROWS=()
    WCB_HEALTH_FAILED=0
    WCB_HEALTH_DEGRADED=()
}

# usage: wcb_health_degraded REASON   note that a cluster misses members but this node still serves
wcb_health_degraded() {
    WCB_HEALTH_DEGRADED+=("$1")
    wcb_log "health: degraded: $1"
}

# usage: wcb_health_verdict   print "ok on NODE", or "degraded but serving on NODE: REASONS" (no FAIL row)
wcb_health_verdict() {
    local reasons
    if [[ "${#WCB_HEALTH_DEGRADED[@]}" -gt 0 ]]; then
        reasons="$(printf '%s; ' ${WCB_HEALTH_DEGRADED[@]+"${WCB_HEALTH_DEGRADED[@]}"})"
        printf 'degraded but serving on %s: %s\n' "$WCB_NODE" "${reasons%; }"
    else
        printf 'ok on %s\n' "$WCB_NODE"
    fi
}

# usage: wcb_health_failed   true when a row of the table is FAIL
wcb_health_failed() {
    [[ "$WCB_HEALTH_FAILED" == 1 ]]
}

# usage: wcb_health_table   print the summary table
wcb_health_table() {
    local row
    local c e s r
    printf '    %-6s %-30s %-10s %s\n' RESULT CHECK EXPECTED SEEN
    for row in ${WCB_HEALTH_ROWS[@]+"${WCB_HEALTH_ROWS[@]}"}; do
        IFS=$'\t' read -r c e s r <<<"$row"
        printf '    %-6s %-30s %-10s %s\n' "$r" "$c" "$e" "$s"
    done
}
