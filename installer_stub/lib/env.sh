#!/usr/bin/env bash
# env.sh: a strict KEY=value reader for bundle.env / site.env / secrets.env (never sourced, never eval'd).
set -euo pipefail

# usage: wcb_env_parse FILE   print "KEY<TAB>value" lines; fails with "FILE:LINE: reason" on bad syntax
wcb_env_parse() {
    local file="$1" line n=0 key raw val
    local re_kv='^(export[[:space:]]+)?(WCB_[A-Za-z0-9_]+)=(.*)$'
    local re_dq='^"([^"\\$`]*)"[[:space:]]*(#.*)?$'
    local re_sq="^'([^']*)'[[:space:]]*(#.*)?\$"
    local re_bare='^([^[:space:]"'"'"'\\$`;&|<>(){}]*)[[:space:]]*(#.*)?$'
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        line="${line#"${line%%[![:space:]]*}"}"
        [[ -z "$line" || "$line" == \#* ]] && continue
        if ! [[ "$line" =~ $re_kv ]]; then
            printf '%s:%d: not a WCB_KEY=value line\n' "$file" "$n" >&2
            return 1
        fi
        key="${BASH_REMATCH[2]}"
        raw="${BASH_REMATCH[3]}"
        if [[ "$raw" =~ $re_dq ]] || [[ "$raw" =~ $re_sq ]] || [[ "$raw" =~ $re_bare ]]; then
            val="${BASH_REMATCH[1]}"
        else
            printf '%s:%d: %s: value must be bare, "double" or '"'"'single'"'"' quoted, without $ ` or \\\n' "$file" "$n" "$key" >&2
            return 1
        fi
        printf '%s\t%s\n' "$key" "$val"
    done <"$file"
}

# usage: wcb_env_load FILE   set every WCB_ variable of FILE in the current shell (printf -v, no eval)
wcb_env_load() {
    local file="$1" parsed key val
    parsed="$(wcb_env_parse "$file")" || return 1
    while IFS=$'\t' read -r key val; do
        [[ -z "$key" ]] && continue
        printf -v "$key" '%s' "$val"
    done <<<"$parsed"
}

# usage: wcb_env_get FILE KEY   print the value of KEY in FILE (empty when absent)
wcb_env_get() {
    local parsed key val
    parsed="$(wcb_env_parse "$1")" || return 1
    while IFS=$'\t' read -r key val; do
        if [[ "$key" == "$2" ]]; then
            printf '%s\n' "$val"
            return 0
        fi
    done <<<"$parsed"
}
