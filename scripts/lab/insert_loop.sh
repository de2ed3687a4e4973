#!/usr/bin/env bash
# Steady insert loop for the lab's db faults, run inside an app node's namespace over TCP (the app's
# own path to the database). Each acknowledged INSERT's id is appended to ACKFILE only after the
# server answered OK: those rows must exist on every node afterwards. TIMESFILE, when given, gets the
# time of each acknowledgement (epoch seconds, one a line): the rolling upgrade's write gaps (gaps.py).
# usage: insert_loop.sh HOST[,HOST...] USER DB FIRST_ID MAX STOPFILE ACKFILE [TIMESFILE]   (password in MYSQL_PWD)
set -euo pipefail

hosts="$1" user="$2" db="$3" first="$4" max="$5" stopfile="$6" ackfile="$7" timesfile="${8:-/dev/null}"
IFS=, read -r -a targets <<<"$hosts"
[[ -n "${MYSQL_PWD:-}" ]] || { echo "insert_loop: MYSQL_PWD is not set" >&2; exit 2; }

id="$first" t=0 failed=0
end=$((first + max))
while [[ ! -e "$stopfile" && "$id" -lt "$end" ]]; do
    # the sequential JDBC URL's behaviour: the first host, then the next one when it fails
    host="${targets[$((t % ${#targets[@]}))]}"
    # timeout: a frozen server (SIGSTOP) accepts the TCP connection and then never answers
    if timeout 10 mariadb --no-defaults --connect-timeout=2 -h "$host" -P 3306 -u "$user" "$db" \
        -e "INSERT INTO lab_rows (id, payload, via) VALUES ($id, SHA2('$id', 256), '$host')" 2>/dev/null; then
        printf '%s\n' "$id" >>"$ackfile"
        printf '%s\n' "$EPOCHREALTIME" >>"$timesfile"
        id=$((id + 1))
    else
        failed=$((failed + 1))
        t=$((t + 1))
        # an unacknowledged id is retried with the same primary key: a duplicate then fails loudly
        if timeout 10 mariadb --no-defaults --connect-timeout=2 -h "$host" -P 3306 -u "$user" "$db" -N \
            -e "SELECT COUNT(*) FROM lab_rows WHERE id = $id" 2>/dev/null | grep -qx 1; then
            printf '%s\n' "$id" >>"$ackfile"
            printf '%s\n' "$EPOCHREALTIME" >>"$timesfile"
        printf '%s\n' "$EPOCHREALTIME" >>"$timesfile"
            id=$((id + 1))
        fi
    fi
    sleep 0.02
done
printf '{"first": %s, "next": %s, "failed_attempts": %s}\n' "$first" "$id" "$failed"
