#!/usr/bin/env bats
# Issue 10, the trust boundary on the target: data files cannot set installer variables (point 2), nothing
# of the bundle is read before it is verified (3), signed bundles and site edits (4), safe writes as root
# against a hostile service user (5), no temp file left behind on any exit path (6).

load helpers

setup() {
    make_bundle
    make_root
    # preflight checks ports on 127.10.0.x, which other tests on this machine may hold meanwhile
    export WCB_SKIP_PHASES="preflight packages services health"
    VICTIM="$BATS_TEST_TMPDIR/victim"
    printf 'root-only content\n' >"$VICTIM"
    chmod 0600 "$VICTIM"
    VICTIM_BEFORE="$(sha256sum <"$VICTIM") $(stat -c '%a %U %s' "$VICTIM")"
    ROOT_BEFORE="$(snapshot "$WCB_ROOT")"
    export TMPDIR="$BATS_TEST_TMPDIR/tmp"
    mkdir -p "$TMPDIR"
}

# usage: victim_untouched   the file outside the bundle is as it was (content, mode, owner, size)
victim_untouched() {
    [ "$(sha256sum <"$VICTIM") $(stat -c '%a %U %s' "$VICTIM")" = "$VICTIM_BEFORE" ]
}

# usage: nothing_written   the fake root, the victim and TMPDIR are as before the run
nothing_written() {
    victim_untouched
    [ "$(snapshot "$WCB_ROOT")" = "$ROOT_BEFORE" ]
    [ -z "$(ls -A "$TMPDIR")" ]
}

# usage: sign_bundle   a test key in keys/, MANIFEST.sha256 signed; FPR is its fingerprint
sign_bundle() {
    export GNUPGHOME="$BATS_TEST_TMPDIR/gnupg"
    mkdir -m 700 -p "$GNUPGHOME"
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'wcbundle test signer <signer@example.invalid>' ed25519 sign never
    FPR="$(gpg --batch --with-colons --list-keys signer@example.invalid | awk -F: '$1 == "fpr" { print $10; exit }')"
    gpg --batch --export signer@example.invalid >"$B/keys/wcbundle-signer.gpg"
    make_manifest "$B"
    gpg --batch --yes -a --detach-sign -o "$B/MANIFEST.sha256.asc" "$B/MANIFEST.sha256"
}

# usage: install_recorded ARG...   an install run whose package phase runs (fixtures/stubs-upgrade: every
# package installed, none pending), so the host records its bundle and its secrets' fingerprints
install_recorded() {
    export UPG_DIR="$BATS_TEST_TMPDIR/upg" DNF_LOG="$BATS_TEST_TMPDIR/upg/dnf.log"
    mkdir -p "$UPG_DIR" "$WCB_ROOT/var/lib/rpm"
    PATH="$FIXTURES/stubs-upgrade:$PATH" \
        RPM_INSTALLED="MariaDB-server MariaDB-client MariaDB-backup galera-4 rsync socat lsof erlang rabbitmq-server logrotate java-1.8.0-openjdk-headless" \
        WCB_SKIP_PHASES="preflight services health" run "$B/install.sh" --yes "$@"
}

# usage: no_value_in TEXT   fail when TEXT holds a value of the fixture's secrets.env or one of the test's new ones
no_value_in() {
    no_secret_in "$1" NewSstPwNewSstPwNewSst0123 ZYXWVUTSRQPONMLKJIHGFEDCBAZYXWVUTSRQPONM
}

# ------------------------------------------------------------------ point 2: data files vs installer variables

@test "site.env cannot point the log at a file outside the bundle (WCB_LOG_FILE): refused, exit 3, nothing written" {
    printf 'WCB_LOG_FILE=%s\n' "$VICTIM" >>"$B/site/site.env"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"site/site.env is refused: WCB_LOG_FILE is an installer variable, not a site.env key"* ]]
    nothing_written
}

@test "site.env cannot turn --dry-run into a real run (WCB_DRY_RUN=0)" {
    printf 'WCB_DRY_RUN=0\n' >>"$B/site/site.env"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_DRY_RUN is an installer variable"* ]]
    nothing_written
}

@test "site.env cannot name files for the temp-file cleanup, or skip phases" {
    printf 'WCB_TMPFILES=%s\n' "$VICTIM" >>"$B/site/site.env"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    nothing_written
    sed -i '/^WCB_TMPFILES=/d' "$B/site/site.env"
    printf 'WCB_SKIP_PHASES="preflight system"\n' >>"$B/site/site.env"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_SKIP_PHASES is an installer variable"* ]]
    nothing_written
}

@test "an unknown key, a key set twice, a secret in site.env and a site key in secrets.env are refused" {
    cp "$B/site/site.env" "$BATS_TEST_TMPDIR/site.env.orig"
    printf 'WCB_SITE_COLOUR=blue\n' >>"$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_SITE_COLOUR is not a site.env key (unknown key)"* ]]
    cp "$BATS_TEST_TMPDIR/site.env.orig" "$B/site/site.env"
    printf 'WCB_NODE_1_IP=127.10.0.99\n' >>"$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_NODE_1_IP is set twice"* ]]
    cp "$BATS_TEST_TMPDIR/site.env.orig" "$B/site/site.env"
    printf 'WCB_DB_ROOT_PASSWORD=Abcdefgh12345678\n' >>"$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_DB_ROOT_PASSWORD belongs in secrets.env, not in site.env"* ]]
    [[ "$output" != *Abcdefgh* ]]
    cp "$BATS_TEST_TMPDIR/site.env.orig" "$B/site/site.env"
    printf 'WCB_VIP=127.10.0.1\n' >>"$B/site/secrets.env"
    make_manifest "$B" # secrets.env is listed in MANIFEST.sha256 (site.env alone may differ)
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_VIP belongs in site.env, not in secrets.env"* ]]
    nothing_written
}

@test "under --check (and on a signed bundle) a refused site.env key is an integrity failure, exit 2" {
    printf 'WCB_LOG_FILE=%s\n' "$VICTIM" >>"$B/site/site.env"
    run "$B/install.sh" --check
    [ "$status" -eq 2 ]
    [[ "$output" == *"WCB_LOG_FILE is an installer variable"* ]]
    nothing_written
}

@test "the site schema's keys and the installer's own variables are disjoint" {
    # shellcheck source=/dev/null
    for f in common env site_schema; do source "$B/lib/$f.sh"; done
    set +u
    local names
    names="$(grep -rhoE '\bWCB_[A-Z0-9_]+\b' "$B/install.sh" "$B/lib" "$B/roles" | sort -u |
        grep -vE '^WCB_NODE_[0-9]+_' | grep -vxF -f <(printf '%s\n' "${!WCB_SCHEMA_FILE[@]}" "${WCB_SCHEMA_BUNDLE_KEYS[@]}"))"
    [ -n "$names" ]
    local n bad=""
    while read -r n; do
        [[ "$n" == WCB_ROLE_PACKAGES_* ]] && continue
        for kind in site.env secrets.env; do
            wcb_env_key_problem "$kind" "$n" >/dev/null || bad+=" $n($kind)"
        done
    done <<<"$names"
    [ -z "$bad" ] || { echo "installer names a data file may set:$bad"; return 1; }
}

# ------------------------------------------------------------------ point 3: verify first

@test "bundle.env is not read before the verify phase: a tampered one cannot set the log file" {
    printf 'WCB_LOG_FILE=%s\n' "$VICTIM" >>"$B/bundle.env"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" == *"checksum mismatch"*"bundle.env"* ]]
    nothing_written
    run "$B/install.sh" --info
    [ "$status" -eq 2 ]
    [[ "$output" != *"bundle:   workcenter"* ]]
    nothing_written
}

@test "a verified bundle.env with an unknown key is refused (exit 2)" {
    printf 'WCB_LOG_FILE=%s\n' "$VICTIM" >>"$B/bundle.env"
    make_manifest "$B"
    run "$B/install.sh" --check
    [ "$status" -eq 2 ]
    [[ "$output" == *"bundle.env: WCB_LOG_FILE is an installer variable"* ]]
    nothing_written
}

@test "bundle.env's per-role keys are allowed by their pattern alone: WCB_ROLE_CLOSURE_<role> passes, a look-alike is refused" {
    printf "WCB_ROLE_CLOSURE_mq_node='erlang rabbitmq-server'\n" >>"$B/bundle.env"
    make_manifest "$B"
    run "$B/install.sh" --check
    [ "$status" -eq 0 ]
    for bad in WCB_ROLE_CLOSURE_MQ WCB_ROLE_CLOSURES_mq_node WCB_ROLE_CLOSURE_; do
        cp "$B/bundle.env" "$BATS_TEST_TMPDIR/env.keep"
        printf '%s=erlang\n' "$bad" >>"$B/bundle.env"
        make_manifest "$B"
        run "$B/install.sh" --check
        [ "$status" -eq 2 ]
        [[ "$output" == *"bundle.env: $bad is not a bundle.env key (unknown key)"* ]]
        cp "$BATS_TEST_TMPDIR/env.keep" "$B/bundle.env"
    done
    nothing_written
}

# ------------------------------------------------------------------ point 4: signed bundles and site edits

@test "--require-signature: an unedited signed bundle passes; an edited site.env is refused (exit 2) and names the keys" {
    sign_bundle
    run "$B/install.sh" --check --require-signature "$FPR"
    [ "$status" -eq 0 ]
    sed -i 's/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.23/' "$B/site/site.env"
    run "$B/install.sh" --check --require-signature "$FPR"
    [ "$status" -eq 2 ]
    [[ "$output" == *"keys that differ from the signed copy: WCB_NODE_4_IP"* ]]
    [[ "$output" == *"--accept-site-edits"* ]]
    run "$B/install.sh" --dry-run --node wc-db1 --require-signature "$FPR"
    [ "$status" -eq 2 ]
    nothing_written
}

@test "--accept-site-edits: a schema-valid edit passes and names the changed keys; an invalid one is still refused" {
    sign_bundle
    sed -i 's/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.23/; s/^WCB_MQ_VHOST=.*/WCB_MQ_VHOST=\/wc/' "$B/site/site.env"
    run "$B/install.sh" --check --require-signature "$FPR" --accept-site-edits
    [ "$status" -eq 0 ]
    [[ "$output" == *"keys that differ from the signed copy: WCB_NODE_4_IP WCB_MQ_VHOST"* ]]
    [[ "$output" == *"[site] ok: acme"* ]]
    sed -i 's/^WCB_MQ_VHOST=.*/WCB_MQ_VHOST=workcenter/' "$B/site/site.env"
    run "$B/install.sh" --check --require-signature "$FPR" --accept-site-edits
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_MQ_VHOST: 'workcenter': it must be '/' or '/name'"* ]]
    nothing_written
}

@test "an accepted site edit cannot name a site file as the jar (WCB_APP_JAR=site/secrets.env): exit 3, nothing written" {
    sign_bundle
    local name sum
    for name in secrets.env site.env site.env.signed flows.tsv WorkCenter-app.yml.tmpl; do
        sum="$(sha256sum "$B/site/secrets.env" | cut -d' ' -f1)"
        sed -i "/^WCB_APP_JAR/d" "$B/site/site.env"
        printf 'WCB_APP_JAR=site/%s\nWCB_APP_JAR_SHA256=%s\n' "$name" "$sum" >>"$B/site/site.env"
        run "$B/install.sh" --yes --node wc-app1 --require-signature "$FPR" --accept-site-edits
        [ "$status" -eq 3 ]
        [[ "$output" == *"WCB_APP_JAR: 'site/$name': it must be empty, or site/<file name>.jar"* ]]
        nothing_written
        [ ! -e "$WCB_ROOT/opt/workcenter/WorkCenter.jar" ]
    done
}

@test "--require-signature: an edit setting an installer variable is refused with or without --accept-site-edits" {
    sign_bundle
    printf 'WCB_SKIP_PHASES=preflight\n' >>"$B/site/site.env"
    run "$B/install.sh" --check --require-signature "$FPR"
    [ "$status" -eq 2 ]
    [[ "$output" == *"WCB_SKIP_PHASES is an installer variable"* ]]
    run "$B/install.sh" --yes --node wc-db1 --require-signature "$FPR" --accept-site-edits
    [ "$status" -eq 2 ]
    [[ "$output" == *"WCB_SKIP_PHASES is an installer variable"* ]]
    nothing_written
}

@test "--accept-site-edits without --require-signature is a usage error" {
    run "$B/install.sh" --check --accept-site-edits
    [ "$status" -eq 1 ]
}

# ------------------------------------------------------------------ the bundle belongs to root

@test "a bundle file owned by another user is refused by the verify phase (exit 2), nothing written" {
    chown nobody "$B/templates/galera.cnf"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" == *"bundle integrity: $B/templates/galera.cnf (owner nobody, mode 644): every file of the bundle must be root's"* ]]
    [[ "$output" == *"Extract the bundle as root into a root-owned directory"* ]]
    nothing_written
    # --check and --info verify the same way
    run "$B/install.sh" --check
    [ "$status" -eq 2 ]
    run "$B/install.sh" --info
    [ "$status" -eq 2 ]
    # --status has no verify phase, but sources lib/ and roles/ as root: the same check comes first
    run "$B/install.sh" --status --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" == *"$B/templates/galera.cnf (owner nobody, mode 644)"* ]]
}

@test "a group-writable bundle directory, or a bundle under a directory another user owns, is refused (exit 2)" {
    chmod g+w "$B/keys"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" == *"$B/keys (owner root, mode 775)"* ]]
    nothing_written
    chmod g-w "$B/keys"
    chmod o+w "$B"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" == *"$B is writable by its group or by other users (mode 757)"* ]]
    nothing_written
    chmod o-w "$B"
    # the admin who extracted it into their own folder can swap any file after the check
    chown nobody "$(dirname "$B")"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 2 ]
    [[ "$output" == *"$(dirname "$B") is owned by nobody"*"not root: that user could change the bundle after it is verified"* ]]
    nothing_written
    chown root "$(dirname "$B")"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
}

# ------------------------------------------------------------------ point 5: safe writes as root

# usage: hostile_rabbitmq_home   $WCB_ROOT/var/lib/rabbitmq owned by nobody (the service account's stand-in),
# reachable by nobody; RMQ is its path
hostile_rabbitmq_home() {
    RMQ="$WCB_ROOT/var/lib/rabbitmq"
    mkdir -p "$RMQ"
    chown nobody "$RMQ"
    local d="$RMQ"
    while [[ "$d" != / && "$d" != /tmp ]]; do
        d="$(dirname "$d")"
        chmod o+x "$d"
    done
    ROOT_BEFORE="$(snapshot "$WCB_ROOT")"
}

# usage: as_nobody CMD...   run CMD as the unprivileged user nobody
as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

@test "a symlink planted by the service user as the destination is refused (exit 4); its target is untouched" {
    hostile_rabbitmq_home
    as_nobody ln -s "$VICTIM" "$RMQ/.erlang.cookie"
    [ "$(stat -c %U "$RMQ/.erlang.cookie")" = nobody ]
    run "$B/install.sh" --yes --node wc-app2 --role mq-node
    [ "$status" -eq 4 ]
    [[ "$output" == *"refusing to write $RMQ/.erlang.cookie: it is a symlink or not a regular file"* ]]
    victim_untouched
    [ -L "$RMQ/.erlang.cookie" ]
    [ -z "$(find "$RMQ" -name '*wcbundle*')" ]
}

# usage: hostile_mktemp   a mktemp first on PATH that, for a name in $RMQ, hands out a name where nobody has
# just planted a symlink to $VICTIM (whatever the template: the installer's naming scheme does not matter);
# every other call goes to the real mktemp. $BATS_TEST_TMPDIR/planted lists what it planted.
hostile_mktemp() {
    local real
    real="$(command -v mktemp)"
    mkdir -p "$BATS_TEST_TMPDIR/shim"
    cat >"$BATS_TEST_TMPDIR/shim/mktemp" <<SHIM
#!/bin/bash
template="\${*: -1}"
if [[ "\$(dirname -- "\$template")" == "$RMQ" ]]; then
    name="\${template%%XXX*}planted\$RANDOM"
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- ln -s "$VICTIM" "\$name" || exit 1
    printf '%s\\n' "\$name" >>"$BATS_TEST_TMPDIR/planted"
    printf '%s\\n' "\$name"
    exit 0
fi
exec "$real" "\$@"
SHIM
    chmod +x "$BATS_TEST_TMPDIR/shim/mktemp"
}

@test "a symlink planted by the service user at the installer's temp-file name is never written through" {
    hostile_rabbitmq_home
    hostile_mktemp
    PATH="$BATS_TEST_TMPDIR/shim:$PATH" run "$B/install.sh" --yes --node wc-app2 --role mq-node
    # the shim was used, and its name was a symlink owned by the service user when the installer got it
    [ -s "$BATS_TEST_TMPDIR/planted" ]
    [ "$status" -eq 4 ]
    [[ "$output" == *"could not create a new temp file"* ]]
    victim_untouched
    [ ! -e "$RMQ/.erlang.cookie" ]
    # each planted name is gone (the installer removes its failed temp name: the link, never its target) or
    # still the service user's symlink: nothing was written under it
    local n
    while IFS= read -r n; do
        if [ ! -e "$n" ] && [ ! -L "$n" ]; then continue; fi
        [ -L "$n" ]
        [ "$(stat -c %U "$n")" = nobody ]
    done <"$BATS_TEST_TMPDIR/planted"
}

@test "a rewrite keeps the old file as a hard-linked backup and never follows a planted backup name" {
    hostile_rabbitmq_home
    # the package phase runs (stubs): the host records its secrets, so the new cookie needs --rotate-secrets
    install_recorded --node wc-app2 --role mq-node
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    grep -q $'^WCB_ERLANG_COOKIE\t' "$WCB_ROOT/var/lib/wcbundle/secrets.sha256"
    sed -i 's/^WCB_ERLANG_COOKIE=.*/WCB_ERLANG_COOKIE=ZYXWVUTSRQPONMLKJIHGFEDCBAZYXWVUTSRQPONM/' "$B/site/secrets.env"
    make_manifest "$B"
    # the backup name is <file>.wcbundle-bak.<UTC second>: plant it for the next 20 seconds
    local now i
    now="$(date -u +%s)"
    for i in $(seq 0 20); do
        as_nobody ln -s "$VICTIM" "$RMQ/.erlang.cookie.wcbundle-bak.$(date -u -d "@$((now + i))" +%Y%m%dT%H%M%SZ)"
    done
    install_recorded --node wc-app2 --role mq-node --rotate-secrets
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ "$output" == *"Warning: --rotate-secrets: site/secrets.env changes WCB_ERLANG_COOKIE on wc-app2"* ]]
    [ "$(cat "$RMQ/.erlang.cookie")" = ZYXWVUTSRQPONMLKJIHGFEDCBAZYXWVUTSRQPONM ]
    victim_untouched
    local kept
    kept="$(find "$RMQ" -name '.erlang.cookie.wcbundle-bak.*' -type f)"
    [ "$(wc -l <<<"$kept")" -eq 1 ]
    [ "$(cat "$kept")" = ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN ]
    [ "$(find "$RMQ" -name '.erlang.cookie.wcbundle-bak.*' -type l | wc -l)" -eq 21 ]
}

# ------------------------------------------------------------------ site secrets other than the host's

@test "secrets: a full bundle whose secrets differ from the host's is refused without --rotate-secrets (exit 3, keys named, no value, nothing written); --dry-run says it would refuse" {
    f="$WCB_ROOT/var/lib/wcbundle/secrets.sha256"
    [ ! -e "$f" ]
    # a first install (no record yet) proceeds and records the fingerprints
    install_recorded --node wc-db1
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(grep -c $'^WCB_[A-Z_]*\t[0-9a-f]\{64\}$' "$f")" -eq 6 ]
    # the operator rebuilt the full bundle with fresh secrets (wcbundle build --site without --since)
    sed -i 's/^WCB_DB_SST_PASSWORD=.*/WCB_DB_SST_PASSWORD=NewSstPwNewSstPwNewSst0123/; s/^WCB_ERLANG_COOKIE=.*/WCB_ERLANG_COOKIE=ZYXWVUTSRQPONMLKJIHGFEDCBAZYXWVUTSRQPONM/' "$B/site/secrets.env"
    make_manifest "$B"
    etc_before="$(snapshot "$WCB_ROOT/etc")"
    state_before="$(snapshot "$WCB_ROOT/var/lib/wcbundle")"
    : >"$DNF_LOG"
    install_recorded --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"site/secrets.env sets WCB_DB_SST_PASSWORD WCB_ERLANG_COOKIE to another value than the one wc-db1 was installed with"* ]]
    [[ "$output" == *"while the other nodes of the site keep the old ones"* ]]
    [[ "$output" == *"wcbundle build --since <the bundle this site runs> --site site.yaml"* ]]
    [[ "$output" == *"set these secrets in site.yaml to the installed values"* ]]
    [[ "$output" == *"./install.sh --rotate-secrets on every node of the site; nothing was changed"* ]]
    refute grep -q 'WCB_DB_ROOT_PASSWORD\|WCB_MQ_APP_PASSWORD' <<<"$output"
    no_value_in "$output"
    no_value_in "$(cat "$WCB_ROOT"/var/log/wcbundle/*)"
    [ "$(snapshot "$WCB_ROOT/etc")" = "$etc_before" ]
    [ "$(snapshot "$WCB_ROOT/var/lib/wcbundle")" = "$state_before" ]
    [ ! -s "$DNF_LOG" ]
    # under the lab's seam (no repo or package phase) the config phase checks before it writes
    WCB_SKIP_PHASES="preflight repo packages services health" run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"site/secrets.env sets WCB_DB_SST_PASSWORD WCB_ERLANG_COOKIE to another value"* ]]
    [ "$(snapshot "$WCB_ROOT/etc")" = "$etc_before" ]
    # --dry-run: says a real run would refuse, shows the rest, exits 3, writes nothing
    install_recorded --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"Error (dry-run: a real run would refuse here, exit 3): site/secrets.env sets WCB_DB_SST_PASSWORD WCB_ERLANG_COOKIE to another value"* ]]
    [[ "$output" == *"DRY RUN complete"* ]]
    no_value_in "$output"
    [ "$(snapshot "$WCB_ROOT/etc")" = "$etc_before" ]
    [ "$(snapshot "$WCB_ROOT/var/lib/wcbundle")" = "$state_before" ]
}

@test "secrets: --rotate-secrets rotates them on purpose (a warning naming the keys, the files rewritten, new fingerprints); a re-run then needs no option" {
    f="$WCB_ROOT/var/lib/wcbundle/secrets.sha256"
    install_recorded --node wc-db1
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    old="$(grep '^WCB_DB_SST_PASSWORD' "$f")"
    sed -i 's/^WCB_DB_SST_PASSWORD=.*/WCB_DB_SST_PASSWORD=NewSstPwNewSstPwNewSst0123/' "$B/site/secrets.env"
    make_manifest "$B"
    # the dry-run of the rotation: exit 0, the warning, nothing written
    state_before="$(snapshot "$WCB_ROOT/var/lib/wcbundle")"
    install_recorded --dry-run --node wc-db1 --rotate-secrets
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ "$output" == *"Warning: --rotate-secrets: site/secrets.env changes WCB_DB_SST_PASSWORD on wc-db1"* ]]
    [ "$(snapshot "$WCB_ROOT/var/lib/wcbundle")" = "$state_before" ]
    refute grep -q NewSstPw "$WCB_ROOT/etc/my.cnf.d/galera.cnf"
    install_recorded --node wc-db1 --rotate-secrets
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [[ "$output" == *"Warning: --rotate-secrets: site/secrets.env changes WCB_DB_SST_PASSWORD on wc-db1"*"every other node of the site must get the same secrets.env"* ]]
    refute grep -q WCB_ERLANG_COOKIE <<<"$output"
    no_value_in "$output"
    no_value_in "$(cat "$WCB_ROOT"/var/log/wcbundle/*)"
    grep -q 'NewSstPwNewSstPwNewSst0123' "$WCB_ROOT/etc/my.cnf.d/galera.cnf"
    [ "$(stat -c %a "$f")" = 600 ]
    [ "$(grep '^WCB_DB_SST_PASSWORD' "$f")" != "$old" ]
    # recorded: the same bundle again passes without the option and warns no more
    install_recorded --node wc-db1
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    refute grep -q 'rotate' <<<"$output"
}

@test "secrets: --rotate-secrets goes with an install run only (usage error, exit 1)" {
    run "$B/install.sh" --status --rotate-secrets
    [ "$status" -eq 1 ]
    [[ "$output" == *"--rotate-secrets goes with a full bundle's install run (or --dry-run), not --status"* ]]
    nothing_written
}

# ------------------------------------------------------------------ point 6: no temp file left behind

@test "no temp file or keyring is left in TMPDIR: --check, --check-site, --dry-run, install, failure" {
    sign_bundle
    run "$B/install.sh" --check --require-signature "$FPR"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -z "$(ls -A "$TMPDIR")" ]
    run "$B/install.sh" --check-site
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -z "$(ls -A "$TMPDIR")" ]
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -z "$(ls -A "$TMPDIR")" ]
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -z "$(ls -A "$TMPDIR")" ]
    rm -rf "$WCB_ROOT/etc/my.cnf.d"
    touch "$WCB_ROOT/etc/my.cnf.d"
    sed -i 's/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.24/' "$B/site/site.env"
    run "$B/install.sh" --yes --node wc-db2
    [ "$status" -eq 4 ]
    [ -z "$(ls -A "$TMPDIR")" ]
}

@test "Ctrl-C during the verify phase leaves no temp file or keyring behind (exit 130)" {
    sign_bundle
    # a sha256sum that stalls on the bundle check (-c), after the keyring was written
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/bash\nif [[ " $* " == *" -c "* ]]; then touch %q; sleep 20; fi\nexec /usr/bin/sha256sum "$@"\n' \
        "$BATS_TEST_TMPDIR/stalled" >"$BATS_TEST_TMPDIR/bin/sha256sum"
    chmod +x "$BATS_TEST_TMPDIR/bin/sha256sum"
    # as from a terminal: SIGINT not ignored (a shell's background job ignores it), its own process
    # group (id = the installer's pid) to signal as a whole
    PATH="$BATS_TEST_TMPDIR/bin:$PATH" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
open(sys.argv[1], "w").write(str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])' "$BATS_TEST_TMPDIR/pid" "$B/install.sh" --check --require-signature "$FPR" >/dev/null 2>&1 &
    local job=$! pid i
    for i in $(seq 1 100); do [ -e "$BATS_TEST_TMPDIR/stalled" ] && break; sleep 0.1; done
    [ -e "$BATS_TEST_TMPDIR/stalled" ]
    [ -n "$(ls -A "$TMPDIR")" ] # the keyring exists while it runs
    pid="$(cat "$BATS_TEST_TMPDIR/pid")"
    kill -INT -- "-$pid" # Ctrl-C: the terminal signals the whole process group
    local rc=0
    wait "$job" || rc=$?
    echo "rc=$rc"
    [ "$rc" -eq 130 ]
    [ -z "$(ls -A "$TMPDIR")" ]
}

@test "the installer refuses what the builder refuses beyond the patterns: host bits in an admin network" {
    sed -i 's|^WCB_ADMIN_NETWORKS=.*|WCB_ADMIN_NETWORKS="127.10.9.0/24 10.1.2.3/16"|' "$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_ADMIN_NETWORKS: '10.1.2.3/16' has host bits set"* ]]
    [[ "$output" != *"127.10.9.0/24' has host bits"* ]]
    sed -i 's|^WCB_ADMIN_NETWORKS=.*|WCB_ADMIN_NETWORKS="0.0.0.0/0 10.1.0.0/16 10.1.2.3/32"|' "$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 0 ]
}

@test "a directory symlink planted by the service user where the installer makes a directory is refused (exit 4)" {
    hostile_rabbitmq_home
    local elsewhere="$BATS_TEST_TMPDIR/elsewhere"
    mkdir -m 0700 "$elsewhere"
    as_nobody ln -s "$elsewhere" "$RMQ/mnesia"
    local before
    before="$(stat -c '%a %U %G' "$elsewhere")"
    run "$B/install.sh" --yes --node wc-app2 --role mq-node
    [ "$status" -eq 4 ]
    [[ "$output" == *"refusing to use $RMQ/mnesia: it is a symlink"* ]]
    [ "$(stat -c '%a %U %G' "$elsewhere")" = "$before" ]
    [ -z "$(ls -A "$elsewhere")" ]
    [ -L "$RMQ/mnesia" ]
    # the dry-run names it too, instead of planning through it
    run "$B/install.sh" --dry-run --node wc-app2 --role mq-node
    [ "$status" -eq 4 ]
    [[ "$output" == *"refusing to use $RMQ/mnesia: it is a symlink"* ]]
}
