#!/usr/bin/env bash
# recover.sh: install.sh --recover, after a power cut took every node down at once (issue 13, README
# "A power cut"). On a db node: this node's recovered position (grastate.dat, else mariadbd --wsrep-recover),
# the peers' positions, the table, then bootstrap only on the most advanced node; the others join it.
#
# How the db nodes learn each other's positions (no ssh): each node's --recover serves its own position
# line, read-only, with an rsync daemon on its Galera SST port (flows.tsv key sst: open between the db
# nodes only, the port Galera's own rsync SST listens on, idle while mariadbd is down), and reads its
# peers' lines from theirs. The operator runs `install.sh --recover` on every db node (any order, within
# WCB_RECOVER_WAIT seconds, default 600). The served line (never a secret):
#   wcb-recover 1 NODE UUID SEQNO SAFE STATE
# STATE: waiting (stopped, position read), bootstrapped (this node bootstrapped the cluster),
# running (mariadbd runs here, Primary). SEQNO -1 means unknown.
set -euo pipefail

WCB_RECOVER_MODULE=wcb-recover
WCB_RECOVER_ZERO_UUID=00000000-0000-0000-0000-000000000000
WCB_RECOVER_DAEMON_PID=""

# usage: wcb_recover_line_ok LINE   true when LINE is a well-formed served position line of a site db node
wcb_recover_line_ok() {
    local -a w
    read -r -a w <<<"$1"
    [[ "${#w[@]}" == 7 && "${w[0]}" == wcb-recover && "${w[1]}" == 1 ]] || return 1
    [[ "${w[3]}" =~ ^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|-)$ ]] || return 1
    [[ "${w[4]}" =~ ^(-1|[0-9]{1,19})$ && "${w[5]}" =~ ^[01]$ ]] || return 1
    [[ " waiting bootstrapped running " == *" ${w[6]} "* ]] || return 1
    [[ " $(wcb_role_field db-node NAME | tr '\n' ' ') " == *" ${w[2]} "* ]]
}

# Position of this node (mariadbd stopped): grastate.dat's uuid and seqno after a clean stop; after a
# crash (seqno -1) the one InnoDB recovered, by mariadbd --wsrep-recover (what EL's galera_recovery runs).
# usage: wcb_recover_own_position   print "UUID SEQNO SAFE" (UUID "-" and SEQNO -1 when unknown)
wcb_recover_own_position() {
    local uuid seqno safe log rec
    uuid="$(wcb_grastate_get uuid)"
    seqno="$(wcb_grastate_get seqno)"
    safe="$(wcb_grastate_get safe_to_bootstrap)"
    [[ "$safe" == 1 ]] || safe=0
    if [[ ! -f "$WCB_P_DB_GRASTATE" && ! -d "$WCB_P_DB_DATADIR/mysql" ]]; then
        printf -- '- -1 0\n'
        return 0
    fi
    if [[ ! "$uuid" =~ ^[0-9a-f-]{36}$ ]]; then
        uuid=-
    fi
    if [[ ! "$seqno" =~ ^[0-9]+$ ]]; then
        wcb_tmpfile log
        wcb_log "recover: grastate.dat seqno ${seqno:-none}: running mariadbd --wsrep-recover"
        wcb_service_wsrep_recover "$log" >>"${WCB_LOG_FILE:-/dev/null}" 2>&1 || true
        rec="$(wcb_service_recovered_position "$log")"
        if [[ -n "$rec" ]]; then
            uuid="${rec%% *}"
            seqno="${rec##* }"
            wcb_log "recover: mariadbd --wsrep-recover: $uuid:$seqno"
        else
            seqno=-1
            wcb_log "recover: mariadbd --wsrep-recover gave no position: $(tail -n 3 "$log" | tr '\n' ' ')"
        fi
    fi
    [[ "$seqno" =~ ^[0-9]+$ ]] || seqno=-1
    [[ "$uuid" == "$WCB_RECOVER_ZERO_UUID" ]] && { uuid=-; seqno=-1; }
    printf '%s %s %s\n' "$uuid" "$seqno" "$safe"
}

# usage: wcb_recover_pubdir   print (and create, root 0755) the directory the rsync daemon serves
wcb_recover_pubdir() {
    local d="$WCB_P_RUN_DIR/recover"
    mkdir -p "$d"
    chmod 0755 "$WCB_P_RUN_DIR" "$d"
    printf '%s\n' "$d"
}

# usage: wcb_recover_publish UUID SEQNO SAFE STATE   write this node's served line (atomic rename)
wcb_recover_publish() {
    local d
    d="$(wcb_recover_pubdir)"
    printf 'wcb-recover 1 %s %s %s %s %s\n' "$WCB_NODE" "$1" "$2" "$3" "$4" >"$d/.position.tmp"
    chmod 0644 "$d/.position.tmp"
    mv -f "$d/.position.tmp" "$d/position"
}

# usage: wcb_recover_serve   start the read-only rsync daemon on this node's IP and SST port (peers only)
wcb_recover_serve() {
    local d conf allow="" ip
    [[ -n "$WCB_RECOVER_DAEMON_PID" ]] && return 0
    wcb_has rsync || wcb_die 4 "rsync is not installed: install.sh --recover serves this node's position to its db peers with it (package rsync of the db-node role)"
    d="$(wcb_recover_pubdir)"
    for ip in $(wcb_role_field db-node IP); do
        [[ "$ip" == "$WCB_NODE_IP" ]] || allow+="${allow:+ }$ip"
    done
    wcb_tmpfile conf
    # uid/gid 65534: the daemon drops root before it reads a file; the module is read-only and unlisted
    cat >"$conf" <<EOF
use chroot = no
uid = 65534
gid = 65534
max connections = 8
timeout = 10
[$WCB_RECOVER_MODULE]
    path = $d
    read only = yes
    list = no
    hosts allow = ${allow:-127.0.0.1}
    hosts deny = *
EOF
    setsid rsync --daemon --no-detach --address="$WCB_NODE_IP" --port="$(wcb_port sst)" --config="$conf" \
        </dev/null >>"${WCB_LOG_FILE:-/dev/null}" 2>&1 &
    WCB_RECOVER_DAEMON_PID=$!
    WCB_CLEANUP_PIDS+=("$WCB_RECOVER_DAEMON_PID")
    wcb_log "recover: serving this node's position on $WCB_NODE_IP:$(wcb_port sst) (rsync daemon pid $WCB_RECOVER_DAEMON_PID)"
}

# usage: wcb_recover_unserve   stop this run's rsync daemon (by its pid): mariadbd needs the SST port
wcb_recover_unserve() {
    [[ -n "$WCB_RECOVER_DAEMON_PID" ]] || return 0
    kill "$WCB_RECOVER_DAEMON_PID" 2>/dev/null || true
    wait "$WCB_RECOVER_DAEMON_PID" 2>/dev/null || true
    WCB_RECOVER_DAEMON_PID=""
}

# usage: wcb_recover_fetch NODE   print NODE's served line, or nothing when it does not answer (5 s bound)
wcb_recover_fetch() {
    local ip out line
    ip="$(wcb_node_field "$(wcb_node_index "$1")" IP)"
    wcb_tmpfile out
    timeout 5 rsync -q --no-motd --contimeout=3 "rsync://$ip:$(wcb_port sst)/$WCB_RECOVER_MODULE/position" "$out" \
        </dev/null >/dev/null 2>&1 || return 0
    line="$(head -c 300 "$out" | head -n1)"
    if wcb_recover_line_ok "$line" && [[ "$(awk '{ print $3 }' <<<"$line")" == "$1" ]]; then
        printf '%s\n' "$line"
    fi
}

# One line per db node (site order): "NODE UUID SEQNO SAFE STATE", this node's from OWN_LINE, each
# peer's as it serves it, or "NODE - -1 0 unknown" when it does not answer.
# usage: wcb_recover_table OWN_LINE   print the positions table
wcb_recover_table() {
    local n line
    for n in $(wcb_role_field db-node NAME); do
        if [[ "$n" == "$WCB_NODE" ]]; then
            line="$1"
        else
            line="$(wcb_recover_fetch "$n")"
        fi
        if [[ -n "$line" ]]; then
            awk '{ print $3, $4, $5, $6, $7 }' <<<"$line"
        else
            printf '%s - -1 0 unknown\n' "$n"
        fi
    done
}

# The decision, from the table alone (bats tests it directly):
#   - a node that runs Primary or bootstrapped: join it; refused when this node holds more transactions of
#     the same history, unless --force-from names that node (its extra transactions are then discarded);
#   - known positions of different histories (cluster state UUIDs): refused;
#   - --force-from NODE: NODE bootstraps, unknown positions notwithstanding; refused when a known position
#     is more advanced than NODE's (never bootstrap a less advanced node);
#   - a position still unknown: pending (after the wait: refused, naming them and --force-from);
#   - else the most advanced bootstraps (ties: safe_to_bootstrap 1 first, then site order).
# Prints "bootstrap", "join NODE", "wait NODE", "done", "pending NODE...", or "refuse REASON".
# usage: wcb_recover_decide ME FORCE TABLE_FILE   the decision for node ME (FORCE: --force-from, or empty)
wcb_recover_decide() {
    local me="$1" force="$2" table="$3"
    awk -v me="$me" -v force="$force" '
        { n++; name[n] = $1; uuid[n] = $2; seq[n] = $3 + 0; safe[n] = $4; state[n] = $5; idx[$1] = n }
        END {
            for (i = 1; i <= n; i++) if (state[i] == "running" || state[i] == "bootstrapped") { t = i; break }
            m = idx[me]
            if (state[m] == "running" || state[m] == "bootstrapped") { print "done"; exit }
            if (t) {
                if (name[t] == me) { print "done"; exit }
                if (seq[m] > seq[t] && uuid[m] == uuid[t] && force != name[t]) {
                    printf "refuse %s runs the cluster at seqno %d, behind this node (%s:%d): joining would discard this node'"'"'s %d transactions. If that is accepted, re-run with --force-from %s\n", name[t], seq[t], uuid[m], seq[m], seq[m] - seq[t], name[t]
                    exit
                }
                print "join " name[t]; exit
            }
            for (i = 1; i <= n; i++) if (uuid[i] != "-" && seq[i] >= 0) {
                if (u == "") { u = uuid[i]; un = name[i] }
                else if (uuid[i] != u) {
                    printf "refuse %s and %s hold different cluster histories (state UUID %s vs %s): they are not one cluster; which data to keep is a decision for the operator (README, A power cut)\n", un, name[i], u, uuid[i]
                    exit
                }
            }
            if (force != "") {
                f = idx[force]
                if (!f) { print "refuse --force-from " force " is not a db node of this site"; exit }
                if (seq[f] >= 0) for (i = 1; i <= n; i++) if (i != f && uuid[i] != "-" && seq[i] > seq[f]) {
                    printf "refuse --force-from %s: %s is more advanced (seqno %d > %d); never bootstrap from a less advanced node: use --force-from %s, or leave --force-from out\n", force, name[i], seq[i], seq[f], name[i]
                    exit
                }
                print (force == me ? "bootstrap" : "wait " force); exit
            }
            for (i = 1; i <= n; i++) if (state[i] == "unknown" || uuid[i] == "-" || seq[i] < 0) unk = unk " " name[i]
            if (unk != "") { print "pending" unk; exit }
            b = 1
            for (i = 2; i <= n; i++) if (seq[i] > seq[b] || (seq[i] == seq[b] && safe[i] > safe[b])) b = i
            print (name[b] == me ? "bootstrap" : "wait " name[b])
        }' "$table"
}

# usage: wcb_recover_show TABLE_FILE   print the positions table for the operator
wcb_recover_show() {
    local n u s safe st
    printf '    %-14s %-38s %-12s %-17s %s\n' NODE "STATE UUID" SEQNO SAFE_TO_BOOTSTRAP STATE
    while read -r n u s safe st; do
        [[ "$s" == -1 ]] && s=unknown
        [[ "$n" == "$WCB_NODE" ]] && n+=" (here)"
        printf '    %-14s %-38s %-12s %-17s %s\n' "$n" "$u" "$s" "$safe" "$st"
    done <"$1"
}

# usage: wcb_recover_set_safe   mark this node's grastate.dat safe_to_bootstrap: 1 (chosen as the most advanced)
wcb_recover_set_safe() {
    [[ -f "$WCB_P_DB_GRASTATE" ]] || return 0
    if grep -q '^safe_to_bootstrap:' "$WCB_P_DB_GRASTATE"; then
        wcb_run sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$WCB_P_DB_GRASTATE"
    else
        printf 'safe_to_bootstrap: 1\n' >>"$WCB_P_DB_GRASTATE"
    fi
}

# usage: wcb_recover_members_all   true when every db node is a member of this node's Primary component
wcb_recover_members_all() {
    wcb_db_synced && [[ -z "$(wcb_db_missing_members)" ]]
}

# The peers that ran --recover alongside this node join the same node at about the same time: a
# joiner's health check waits for them instead of failing on a peer still joining (a split). They are
# the peers seen "waiting" with a known position in ANY look at the table: a peer that decided to join
# first stops serving its line (its SST port is needed), so a later look shows it unknown.
WCB_RECOVER_JOINERS=""

# usage: wcb_recover_note_joiners TABLE   add TABLE's waiting peers with a known position to WCB_RECOVER_JOINERS
wcb_recover_note_joiners() {
    local p
    while read -r p; do
        [[ -z "$p" || " $WCB_RECOVER_JOINERS " == *" $p "* ]] || WCB_RECOVER_JOINERS+="${WCB_RECOVER_JOINERS:+ }$p"
    done < <(awk -v me="$WCB_NODE" '$1 != me && $5 == "waiting" && $3 >= 0 { print $1 }' "$1")
}

# A peer whose position stayed unknown is not waited for; one that refused is, until DEADLINE.
# usage: wcb_recover_wait_joiners DEADLINE   wait (until DEADLINE, in SECONDS) for WCB_RECOVER_JOINERS to be members
wcb_recover_wait_joiners() {
    local missing p late
    [[ -n "$WCB_RECOVER_JOINERS" ]] || return 0
    wcb_note "waiting up to $(($1 > SECONDS ? $1 - SECONDS : 0)) s for the peers that ran --recover too to join: $WCB_RECOVER_JOINERS"
    while :; do
        late=""
        if [[ -z "$(wcb_wsrep wsrep_incoming_addresses)" ]]; then
            late=" $WCB_RECOVER_JOINERS"   # no answer: nobody counts as a member yet
        else
            missing=" $(wcb_db_missing_members) "
            for p in $WCB_RECOVER_JOINERS; do
                [[ "$missing" == *" $p "* ]] && late+=" $p"
            done
        fi
        if [[ -z "$late" ]] || ((SECONDS >= $1)); then
            break
        fi
        sleep 2
    done
    [[ -z "$late" ]] || wcb_note "not members yet after the wait:$late (the health check below says so)"
}

# usage: wcb_recover_db   --recover on a db node: position, exchange, table, bootstrap-or-join (exit 4 on refusal)
wcb_recover_db() {
    local uuid seqno safe state=waiting status table decision shown="" force="${WCB_OPT_FORCE_FROM:-}" wait deadline
    wait="${WCB_RECOVER_WAIT:-600}"
    [[ "$wait" =~ ^[0-9]+$ ]] || wcb_die 1 "WCB_RECOVER_WAIT=$wait: expected seconds"
    if [[ -n "$force" && " $(wcb_role_field db-node NAME) " != *" $force "* ]]; then
        wcb_die 1 "--force-from $force is not a db node of this site (db nodes: $(wcb_role_field db-node NAME ', '))"
    fi
    if wcb_unit_active mariadb; then
        status="$(wcb_wsrep wsrep_cluster_status)"
        if [[ "$status" == Primary ]]; then
            state=running
            uuid="$(wcb_wsrep wsrep_cluster_state_uuid)"
            seqno="$(wcb_wsrep wsrep_last_committed)"
            safe=0
            wcb_note "mariadb runs here and is Primary (cluster size $(wcb_wsrep wsrep_cluster_size)): nothing to bootstrap; telling the peers so"
        elif [[ -z "$status" ]]; then
            # Still starting (no socket yet): it waits for the members of its last Primary Component, has
            # accepted no write since it booted, and ignores SIGTERM until its start-up ends. SIGKILL loses
            # nothing (InnoDB recovers; the position is re-read).
            wcb_note "mariadb runs here but is not answering (waiting for the members of its last Primary Component): it has accepted no write, so it is killed (SIGKILL; SIGTERM waits for its start-up) to read its position"
            wcb_svc kill mariadb || wcb_die 4 "killing the waiting mariadb failed; see $WCB_P_DB_LOG"
        else
            # It answers but is not Primary: it refuses writes, and a plain stop ends it
            wcb_note "mariadb runs here but is $status (not Primary: it refuses writes): stopping it to read its position"
            wcb_svc stop mariadb || wcb_die 4 "stopping mariadb failed; see $WCB_P_DB_LOG"
        fi
    fi
    if [[ "$state" != running ]]; then
        read -r uuid seqno safe <<<"$(wcb_recover_own_position)"
        wcb_note "this node's position: ${uuid}:${seqno/#-1/unknown} (safe_to_bootstrap: $safe)"
    fi
    [[ "$uuid" =~ ^[0-9a-f-]{36}$ ]] || uuid=-
    [[ "$seqno" =~ ^(-1|[0-9]+)$ ]] || seqno=-1
    wcb_recover_publish "$uuid" "$seqno" "$safe" "$state"
    wcb_recover_serve
    wcb_note "positions: served on $WCB_NODE_IP:$(wcb_port sst); run install.sh --recover on every db node (within $wait s)"
    wcb_tmpfile table
    deadline=$((SECONDS + wait))
    while :; do
        wcb_recover_table "wcb-recover 1 $WCB_NODE $uuid $seqno $safe $state" >"$table"
        decision="$(wcb_recover_decide "$WCB_NODE" "$force" "$table")"
        wcb_recover_note_joiners "$table"
        if [[ "$(cat "$table")" != "$shown" ]]; then
            shown="$(cat "$table")"
            wcb_say "    positions (seen at $(date -u +%H:%M:%S)):"
            wcb_recover_show "$table" | tee -a "${WCB_LOG_FILE:-/dev/null}"
        fi
        case "$decision" in
            refuse\ *)
                wcb_die 4 "recovery refused: ${decision#refuse }"
                ;;
            done)
                if wcb_recover_members_all || ((SECONDS >= deadline)); then
                    break
                fi
                ;;
            bootstrap)
                wcb_note "mariadb: $WCB_NODE holds the most advanced position ($uuid:$seqno)${force:+ (--force-from $force)}: bootstrapping the cluster from it"
                wcb_recover_set_safe
                wcb_svc bootstrap_galera || wcb_die 4 "bootstrapping Galera on $WCB_NODE failed; see the log and $WCB_P_DB_LOG"
                wcb_wait_until 90 2 wcb_db_ready || wcb_die 4 "mariadb on $WCB_NODE did not reach wsrep_ready=ON within 180 s; see $WCB_P_DB_LOG"
                state=bootstrapped
                wcb_recover_publish "$uuid" "$seqno" 1 "$state"
                wcb_note "bootstrapped; the other db nodes join it (their install.sh --recover sees it). Waiting up to $((deadline - SECONDS)) s for them"
                ;;
            join\ *)
                wcb_recover_unserve
                wcb_note "mariadb: joining ${decision#join } (the node the cluster was recovered on)"
                wcb_svc start mariadb || wcb_die 4 "starting mariadb (join ${decision#join }) failed; see $WCB_P_DB_LOG"
                wcb_wait_until 90 2 wcb_db_ready || wcb_die 4 "mariadb on $WCB_NODE did not reach wsrep_ready=ON within 180 s; see $WCB_P_DB_LOG"
                wcb_recover_wait_joiners "$deadline"
                break
                ;;
            wait\ * | pending\ *)
                if ((SECONDS >= deadline)); then
                    if [[ "$decision" == wait\ * ]]; then
                        wcb_die 4 "recovery: ${decision#wait } holds the most advanced position but has not bootstrapped within $wait s: run install.sh --recover on ${decision#wait }"
                    fi
                    wcb_die 4 "recovery refused: the position of${decision#pending} is unknown (no install.sh --recover answered there within $wait s). Run install.sh --recover on${decision#pending}; if a node cannot come back, choose the most advanced known node with --force-from NODE (its transactions win; a node that returns later rejoins by SST)"
                fi
                ;;
        esac
        sleep 2
    done
    wcb_recover_unserve
    wcb_svc enable mariadb || wcb_die 4 "enabling mariadb failed"
}
