#!/usr/bin/env bats
# House style as tests: the preamble in every installer shell file, usage comments, shellcheck clean.

load helpers

# usage: installer_shell_files   print every shell file of installer_stub/
installer_shell_files() {
    find "$WCB_REPO_TOP/installer_stub" -type f \( -name '*.sh' -o -perm -u+x \) | LC_ALL=C sort
}

@test "every installer shell file starts with the preamble" {
    local n=0
    while read -r f; do
        n=$((n + 1))
        [ "$(sed -n 1p "$f")" = '#!/usr/bin/env bash' ] || { echo "$f: no shebang"; return 1; }
        grep -qx 'set -euo pipefail' "$f" || { echo "$f: no set -euo pipefail"; return 1; }
    done < <(installer_shell_files)
    [ "$n" -ge 15 ]
}

@test "every wcb_ function in lib/ and roles/ has a one-line usage comment" {
    local f prev line
    for f in "$WCB_REPO_TOP"/installer_stub/lib/*.sh "$WCB_REPO_TOP"/installer_stub/roles/*.sh; do
        prev=""
        while IFS= read -r line; do
            if [[ "$line" =~ ^(wcb_[a-z0-9_]+)\(\)\ \{ ]]; then
                [[ "$prev" == "# usage: ${BASH_REMATCH[1]}"* ]] || { echo "$f: ${BASH_REMATCH[1]} lacks '# usage:'"; return 1; }
            fi
            prev="$line"
        done <"$f"
    done
}

@test "no eval, no set -x, no gpgcheck=0 anywhere in the installer" {
    refute grep -rnE '(^|[;&|[:space:]])eval[[:space:]]|set -x|gpgcheck=0|--nogpgcheck|setenforce 0' "$WCB_REPO_TOP/installer_stub"
}

@test "shellcheck -x -S style is clean on the installer and the bats helpers" {
    command -v shellcheck
    mapfile -t files < <(installer_shell_files)
    cd "$WCB_REPO_TOP"
    run shellcheck -x -S style "${files[@]}" tests/bats/helpers.bash tests/bats/fixtures/stubs/* tests/bats/fixtures/stubs-rpmdb/*
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "no bats test line starts with '! cmd': bats ignores its status unless it is the test's last line" {
    # bats' errexit does not fire on a negated command; `if cmd; then false; fi` or `run ! cmd` does
    refute grep -nE '^[[:space:]]+! [a-z_\[]' "$WCB_REPO_TOP"/tests/bats/*.bats
}

@test "EL7's bash 4.2: no construct it lacks or runs differently (scripts/bash42_lint.py), and the check catches each" {
    mapfile -t files < <(installer_shell_files)
    run python3 "$WCB_REPO_TOP/scripts/bash42_lint.py" "${files[@]}"
    echo "$output"
    [ "$status" -eq 0 ]
    # each rule fires on what broke the installer under bash 4.2.45, or what 4.2 lacks
    local bad="$BATS_TEST_TMPDIR/bad.sh"
    cat >"$bad" <<'SH'
for x in "${ITEMS[@]}"; do :; done
echo "roles ${ROLES[*]}"
declare -gA PORTS=()
v="${v//\'/\'\'}"
local -n out="$1"
mapfile -d '' -t names
echo "${v@Q}"
wait -n
echo "$EPOCHSECONDS"
SH
    run python3 "$WCB_REPO_TOP/scripts/bash42_lint.py" "$bad"
    [ "$status" -eq 1 ]
    [ "$(grep -c "^$bad:" <<<"$output")" -eq 9 ]
    # the guarded forms pass
    printf '%s\n' 'for x in ${ITEMS[@]+"${ITEMS[@]}"}; do :; done' 'echo "${ROLES[*]+${ROLES[*]}} ${K[*]:-}"' \
        'declare -gA PORTS' 'PORTS=()' 'q="'"'"'"; v="${v//$q/$q$q}"' >"$bad"
    run python3 "$WCB_REPO_TOP/scripts/bash42_lint.py" "$bad"
    [ "$status" -eq 0 ]
}
