#!/usr/bin/env bats
# Patch day, installer half (issue 14): the persistent repo under /var/lib/wcbundle, the host's bundle
# state, update bundles on top of their base only, --prune, the package phase's upgrades, and
# ./install.sh --upgrade: its quorum gates, refusals, per-role steps, resume and idempotence.
# Stubs: the service seam's stub backend (units "run" while $WCB_ROOT/run/wcbundle/<unit>.active exists),
# fixtures/stubs-upgrade (dnf check-update/upgrade, rpm, the mariadb client answering SHOW STATUS per host)
# and fixtures/stubs-mqcli (rabbitmqctl, rabbitmq-diagnostics, rabbitmq-upgrade).

load helpers

ID=workcenter-el7-x86_64-20261126
LOCK1=1111111111111111111111111111111111111111111111111111111111111111

setup() {
    make_bundle
    make_root
    set_bundle "$B" "$ID" full "$LOCK1" "" ""
    export UPG_DIR="$BATS_TEST_TMPDIR/upg"
    mkdir -p "$UPG_DIR/wsrep" "$UPG_DIR/mq" "$UPG_DIR/mqbin" "$WCB_ROOT/var/lib/rpm"
    for t in rabbitmqctl rabbitmq-diagnostics rabbitmq-upgrade; do
        cp "$FIXTURES/stubs-mqcli/mqcli" "$UPG_DIR/mqbin/$t"
    done
    export WCB_TEST_MQ_CLI_DIR="$UPG_DIR/mqbin"
    export DNF_LOG="$UPG_DIR/dnf.log"
    export PATH="$FIXTURES/stubs-upgrade:$PATH"
    export RPM_INSTALLED="MariaDB-server MariaDB-client MariaDB-backup galera-4 rsync socat lsof erlang rabbitmq-server logrotate java-1.8.0-openjdk-headless"
    printf '%s\n' "MariaDB-server 10.11.10" "rabbitmq-server 3.9.16" >"$UPG_DIR/versions"
    export WCB_UPGRADE_SYNC_TRIES=2
}

# usage: set_bundle DIR ID KIND LOCK BASE_ID BASE_LOCK   make DIR's bundle.env that bundle (and re-manifest it)
set_bundle() {
    local d="$1"
    sed -i '/^WCB_BUNDLE_ID=\|^WCB_BUNDLE_KIND=\|^WCB_LOCK_SHA256=\|^WCB_BASE_BUNDLE_ID=\|^WCB_BASE_LOCK_SHA256=/d' "$d/bundle.env"
    printf 'WCB_BUNDLE_ID=%s\nWCB_BUNDLE_KIND=%s\nWCB_LOCK_SHA256=%s\nWCB_BASE_BUNDLE_ID=%s\nWCB_BASE_LOCK_SHA256=%s\n' \
        "$2" "$3" "$4" "$5" "$6" >>"$d/bundle.env"
    make_manifest "$d"
}

# usage: other_bundle NAME ID KIND LOCK BASE_ID BASE_LOCK   a second extracted bundle in $BATS_TEST_TMPDIR/NAME
other_bundle() {
    local keep="$B"
    make_bundle "$BATS_TEST_TMPDIR/$1"
    echo "$1: Packages/$1.rpm" >"$B/repo/Packages/$1.rpm"
    set_bundle "$B" "${@:2}"
    B="$keep"
}

# usage: install_pkgs DIR [NODE [ARG...]]   an install run of bundle DIR up to its package phase (state recorded)
install_pkgs() {
    WCB_SKIP_PHASES="preflight system config services health" run "$1/install.sh" --yes --node "${2:-wc-db1}" "${@:3}"
}

# usage: running UNIT...   the stub backend's units that run now
running() {
    mkdir -p "$WCB_ROOT/run/wcbundle"
    for u in "$@"; do : >"$WCB_ROOT/run/wcbundle/$u.active"; done
}

# usage: db_status HOST STATUS STATE SIZE   what the mariadb stub answers for HOST (an IP, or "local")
db_status() {
    printf 'wsrep_cluster_status\t%s\nwsrep_local_state_comment\t%s\nwsrep_cluster_size\t%s\nwsrep_ready\tON\n' "$2" "$3" "$4" \
        >"$UPG_DIR/wsrep/$1"
}

# usage: db_healthy   wc-db1 (local) and wc-db2 Synced, Primary, 3 voters
db_healthy() {
    db_status local Primary Synced 3
    db_status 127.10.0.21 Primary Synced 3
    db_status 127.10.0.22 Primary Synced 3
}

# usage: mq_status RUNNING PARTITIONS [VERSIONS]   the cluster_status JSON the mq stub answers
mq_status() {
    printf '{"running_nodes":[%s],"partitions":%s,"versions":{%s}}\n' "$1" "$2" "${3:-}" >"$UPG_DIR/mq/cluster_status.json"
}

# usage: pending LINE...   what dnf check-update lists ("name.arch evr repo")
pending() {
    printf '%s\n' "$@" >"$UPG_DIR/pending"
}

# ---------------------------------------------------------------- the persistent repo and the state

@test "repo: repo/ and the keys are kept under /var/lib/wcbundle (0755/0644), the .repo file points there, the bundle is recorded" {
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    st="$WCB_ROOT/var/lib/wcbundle"
    [ "$(stat -c %a "$st" "$st/repos" "$st/repos/$ID" "$st/repos/$ID/Packages" "$st/keys/$ID" | sort -u)" = 755 ]
    [ "$(stat -c %a "$st/repos/$ID/Packages/README" "$st/keys/$ID/RPM-GPG-KEY-mariadb" "$st/installed.tsv" | sort -u)" = 644 ]
    cmp "$B/repo/Packages/README" "$st/repos/$ID/Packages/README"
    [ "$(grep -v '^#' "$st/installed.tsv" | cut -f1-5)" = "$(printf '%s\tfull\t%s\t-\t-' "$ID" "$LOCK1")" ]
    f="$WCB_ROOT/etc/yum.repos.d/wcbundle.repo"
    assert_lines "$f" "[wcbundle-$ID]" "baseurl=file://$st/repos/$ID" gpgcheck=1 enabled=0 \
        "gpgkey=file://$st/keys/$ID/RPM-GPG-KEY-c7-os file://$st/keys/$ID/RPM-GPG-KEY-mariadb"
    refute grep -q "$B" "$f"
    [[ "$output" == *"[packages] unchanged: 7 packages already installed, none older than the bundle repos'"* ]]
    grep -q -- "--disablerepo=\* --enablerepo=wcbundle-$ID --installroot=$WCB_ROOT .*check-update" "$DNF_LOG"
    # the extracted bundle may go: the host keeps its repo; a second run changes nothing
    before="$(snapshot "$st")"
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    [[ "$output" == *"[repo] unchanged"* ]]
    [[ "$output" == *"Nothing changed"* ]]
    [ "$(snapshot "$st")" = "$before" ]
}

@test "repo: a planted symlink or a foreign-writable state directory is refused, nothing written through it" {
    mkdir -p "$WCB_ROOT/var/lib" "$BATS_TEST_TMPDIR/elsewhere"
    ln -s "$BATS_TEST_TMPDIR/elsewhere" "$WCB_ROOT/var/lib/wcbundle"
    install_pkgs "$B"
    [ "$status" -eq 4 ]
    [[ "$output" == *"refusing to use $WCB_ROOT/var/lib/wcbundle: it is a symlink"* ]]
    [ -z "$(ls -A "$BATS_TEST_TMPDIR/elsewhere")" ]
    rm "$WCB_ROOT/var/lib/wcbundle"
    mkdir -m 0777 "$WCB_ROOT/var/lib/wcbundle"
    install_pkgs "$B"
    [ "$status" -eq 4 ]
    [[ "$output" == *"writable by others (mode 777)"* ]]
}

@test "update: refused (exit 3, naming both ids) on a host without its base or at another bundle; accepted on its base as one more repo" {
    other_bundle upd workcenter-update-el7-x86_64-20261201 update "$(printf '2%.0s' {1..64})" "$ID" "$LOCK1"
    U="$BATS_TEST_TMPDIR/upd"
    # a new host: no state
    install_pkgs "$U"
    [ "$status" -eq 3 ]
    [[ "$output" == *"update bundle workcenter-update-el7-x86_64-20261201 is built on $ID, but this host has no wcbundle bundle recorded"* ]]
    [ ! -e "$WCB_ROOT/var/lib/wcbundle" ]
    # a host at another bundle
    other_bundle other workcenter-el7-x86_64-20261120 full "$(printf '3%.0s' {1..64})" "" ""
    install_pkgs "$BATS_TEST_TMPDIR/other"
    [ "$status" -eq 0 ]
    install_pkgs "$U"
    [ "$status" -eq 3 ]
    [[ "$output" == *"built on $ID (lock 111111111111), but this host is at workcenter-el7-x86_64-20261120 (lock 333333333333): nothing was changed"* ]]
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/repos/workcenter-update-el7-x86_64-20261201" ]
    # the base, then the update: two repos, both enabled, the update recorded on its base
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    : >"$DNF_LOG"
    install_pkgs "$U"
    [ "$status" -eq 0 ]
    f="$WCB_ROOT/etc/yum.repos.d/wcbundle.repo"
    assert_lines "$f" "[wcbundle-$ID]" "[wcbundle-workcenter-update-el7-x86_64-20261201]" \
        "baseurl=file://$WCB_ROOT/var/lib/wcbundle/repos/workcenter-update-el7-x86_64-20261201"
    [ "$(grep -c '^gpgcheck=1$' "$f")" -eq 3 ]
    grep -q -- "--enablerepo=wcbundle-$ID --enablerepo=wcbundle-workcenter-update-el7-x86_64-20261201 .*check-update" "$DNF_LOG"
    [ "$(tail -n 1 "$WCB_ROOT/var/lib/wcbundle/installed.tsv" | cut -f1-5)" = \
        "$(printf 'workcenter-update-el7-x86_64-20261201\tupdate\t%s\t%s\t%s' "$(printf '2%.0s' {1..64})" "$ID" "$LOCK1")" ]
    # the same id with another lock: two builds named alike, refused
    set_bundle "$U" workcenter-update-el7-x86_64-20261201 update "$(printf '4%.0s' {1..64})" "$ID" "$LOCK1"
    install_pkgs "$U"
    [ "$status" -eq 3 ]
    [[ "$output" == *"recorded another bundle under the id workcenter-update-el7-x86_64-20261201"* ]]
}

@test "update: a base with another lock digest (same id) is refused" {
    install_pkgs "$B"
    other_bundle upd workcenter-update-el7-x86_64-20261201 update "$(printf '2%.0s' {1..64})" "$ID" "$(printf '5%.0s' {1..64})"
    install_pkgs "$BATS_TEST_TMPDIR/upd"
    [ "$status" -eq 3 ]
    [[ "$output" == *"built on $ID (lock 555555555555), but this host is at $ID (lock 111111111111)"* ]]
}

@test "prune: keeps the current and the previous state (with an update's base), removes the rest, rewrites the .repo file" {
    other_bundle a workcenter-el7-x86_64-20261101 full "$(printf 'a%.0s' {1..64})" "" ""
    other_bundle u workcenter-update-el7-x86_64-20261202 update "$(printf 'c%.0s' {1..64})" "$ID" "$LOCK1"
    for d in "$BATS_TEST_TMPDIR/a" "$B" "$BATS_TEST_TMPDIR/u"; do
        install_pkgs "$d"
        [ "$status" -eq 0 ]
    done
    r="$WCB_ROOT/var/lib/wcbundle/repos"
    [ "$(ls "$r" | tr '\n' ' ')" = "workcenter-el7-x86_64-20261101 $ID workcenter-update-el7-x86_64-20261202 " ]
    [ "$(grep -c '^\[wcbundle-' "$WCB_ROOT/etc/yum.repos.d/wcbundle.repo")" -eq 3 ]
    run "$B/install.sh" --prune
    [ "$status" -eq 1 ]
    [[ "$output" == *"pass --yes"* ]]
    run "$B/install.sh" --prune --yes
    [ "$status" -eq 0 ]
    [[ "$output" == *"[prune] kept the repos of the current state workcenter-update-el7-x86_64-20261202 and the previous $ID"*"removed 1"* ]]
    [ "$(ls "$r" | tr '\n' ' ')" = "$ID workcenter-update-el7-x86_64-20261202 " ]
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/keys/workcenter-el7-x86_64-20261101" ]
    f="$WCB_ROOT/etc/yum.repos.d/wcbundle.repo"
    [ "$(grep '^\[wcbundle-' "$f" | tr '\n' ' ')" = "[wcbundle-$ID] [wcbundle-workcenter-update-el7-x86_64-20261202] " ]
    # the history stays; a second prune removes nothing
    [ "$(grep -vc '^#' "$WCB_ROOT/var/lib/wcbundle/installed.tsv")" -eq 3 ]
    run "$B/install.sh" --prune --yes
    [ "$status" -eq 0 ]
    [[ "$output" == *"removed 0"* ]]
}

# ---------------------------------------------------------------- the package phase upgrades

@test "packages: an installed package older than the bundle repos' is upgraded from them alone on a stopped node" {
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID" "galera-4.x86_64 26.4.21-1.el7 wcbundle-$ID"
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] upgraded: MariaDB-server.x86_64 galera-4.x86_64"* ]]
    grep -qx -- "-y --disablerepo=\* --enablerepo=wcbundle-$ID --installroot=$WCB_ROOT --releasever=7 --setopt=reposdir=$WCB_ROOT/etc/yum.repos.d upgrade MariaDB-server.x86_64 galera-4.x86_64" "$DNF_LOG"
    install_pkgs "$B"
    [[ "$output" == *"[packages] unchanged"* ]]
}

@test "packages: an upgrade dnf skips (exit 0) is reported as not upgraded, checked with rpm -q; a re-run offers it again" {
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID" "galera-4.x86_64 26.4.21-1.el7 wcbundle-$ID"
    echo galera-4.x86_64 >"$UPG_DIR/skip"
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] upgraded: MariaDB-server.x86_64; not upgraded (skipped by dnf): galera-4.x86_64"* ]]
    [[ "$output" == *"dnf did not upgrade galera-4.x86_64"* ]]
    [[ "$output" != *"upgraded: MariaDB-server.x86_64 galera-4.x86_64"* ]]
    grep -q -- "upgrade MariaDB-server.x86_64 galera-4.x86_64" "$DNF_LOG"
    # dnf still offers it: the next run tries again and says so, never "unchanged"
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] not upgraded (skipped by dnf): galera-4.x86_64"* ]]
    [[ "$output" != *"[packages] unchanged"* ]]
    # once dnf takes it, the phase says upgraded
    rm "$UPG_DIR/skip"
    install_pkgs "$B"
    [[ "$output" == *"[packages] upgraded: galera-4.x86_64"* ]]
}

@test "packages: check-update's obsoleted line (indented, the installed package) is no upgrade of its own" {
    pending "galera-4.x86_64 26.4.21-1.el7 wcbundle-$ID" "Obsoleting Packages" \
        "MariaDB-compat.x86_64 10.11.11-1.el7 wcbundle-$ID" "    mariadb-libs.x86_64 1:5.5.56-2.el7 @System"
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] upgraded: galera-4.x86_64 MariaDB-compat.x86_64"* ]]
    [[ "$output" != *"mariadb-libs"* ]]
    grep -q -- "upgrade galera-4.x86_64 MariaDB-compat.x86_64\$" "$DNF_LOG"
}

# ---------------------------------------------------------------- the upgrades of the host's roles' closures only

# The EL7 case: MariaDB-compat (db-node's closure) obsoletes @core's mariadb-libs; openssl-libs is in two
# closures; the names are as the builder writes them (bundle.env WCB_ROLE_CLOSURE_<role>: sorted lock names).
CLOSURE_DB="MariaDB-client MariaDB-common MariaDB-compat MariaDB-server galera-4 openssl-libs"
CLOSURE_MQ="erlang logrotate openssl-libs rabbitmq-server socat"
CLOSURE_APP="java-1.8.0-openjdk-headless tzdata-java"

# usage: with_closures DIR   give DIR's bundle.env every role's WCB_ROLE_CLOSURE_* (as wcbundle writes it) and re-manifest it
with_closures() {
    printf "WCB_ROLE_CLOSURE_db_node='%s'\nWCB_ROLE_CLOSURE_mq_node='%s'\nWCB_ROLE_CLOSURE_app_node='%s'\nWCB_ROLE_CLOSURE_arbitrator=galera-4\n" \
        "$CLOSURE_DB" "$CLOSURE_MQ" "$CLOSURE_APP" >>"$1/bundle.env"
    make_manifest "$1"
}

# usage: split_pending ROLES LINE...   source the libs, select ROLES (comma-separated), run wcb_pkg_closure_split; print "kept: ...|left: ...|known: N"
split_pending() {
    # shellcheck source=/dev/null
    for f in common pkg; do source "$B/lib/$f.sh"; done
    IFS=, read -r -a WCB_SELECTED_ROLES <<<"$1"
    shift
    wcb_pkg_closure_split "$@"
    printf 'kept: %s|left: %s|known: %s\n' "${WCB_PKG_PENDING[*]+${WCB_PKG_PENDING[*]%% *}}" "${WCB_PKG_LEFT_ALONE[*]+${WCB_PKG_LEFT_ALONE[*]}}" "$WCB_PKG_CLOSURE_KNOWN"
}

PENDING_ALL=("erlang.x86_64 23.3.4.20-1.el7" "galera-4.x86_64 26.4.21-1.el7" "MariaDB-compat.x86_64 10.11.11-1.el7.centos"
    "openssl-libs.x86_64 1:1.0.2k-26.el7_9" "java-1.8.0-openjdk-headless.x86_64 1:1.8.0.432.b06-2.el7_9"
    "rabbitmq-server.noarch 3.9.29-1.el7")

@test "closure filter: pending upgrades are kept when the name (of name.arch) is in a selected role's closure, else left alone" {
    WCB_ROLE_CLOSURE_db_node="$CLOSURE_DB" WCB_ROLE_CLOSURE_mq_node="$CLOSURE_MQ" WCB_ROLE_CLOSURE_app_node="$CLOSURE_APP"
    WCB_ROLE_CLOSURE_arbitrator=galera-4
    [ "$(split_pending mq-node "${PENDING_ALL[@]}")" = \
        "kept: erlang.x86_64 openssl-libs.x86_64 rabbitmq-server.noarch|left: galera-4.x86_64 MariaDB-compat.x86_64 java-1.8.0-openjdk-headless.x86_64|known: 1" ]
    # the union of the host's roles; a dotted name (java-1.8.0-...) is matched whole, never by a prefix
    [ "$(split_pending mq-node,app-node "${PENDING_ALL[@]}")" = \
        "kept: erlang.x86_64 openssl-libs.x86_64 java-1.8.0-openjdk-headless.x86_64 rabbitmq-server.noarch|left: galera-4.x86_64 MariaDB-compat.x86_64|known: 1" ]
    [ "$(split_pending db-node "${PENDING_ALL[@]}")" = \
        "kept: galera-4.x86_64 MariaDB-compat.x86_64 openssl-libs.x86_64|left: erlang.x86_64 java-1.8.0-openjdk-headless.x86_64 rabbitmq-server.noarch|known: 1" ]
    [ "$(split_pending arbitrator "${PENDING_ALL[@]}")" = \
        "kept: galera-4.x86_64|left: erlang.x86_64 MariaDB-compat.x86_64 openssl-libs.x86_64 java-1.8.0-openjdk-headless.x86_64 rabbitmq-server.noarch|known: 1" ]
    WCB_ROLE_CLOSURE_app_node="java-1.8.0"   # a name that is a prefix of another is not that one
    [ "$(split_pending app-node "java-1.8.0-openjdk-headless.x86_64 1:1.8.0.432.b06-2.el7_9")" = \
        "kept: |left: java-1.8.0-openjdk-headless.x86_64|known: 1" ]
    # a role whose closure is empty (the baseline has all it needs) takes no upgrade; nothing pending: nothing
    WCB_ROLE_CLOSURE_control_node=""
    [ "$(split_pending control-node "${PENDING_ALL[@]:0:2}")" = "kept: |left: erlang.x86_64 galera-4.x86_64|known: 1" ]
    [ "$(split_pending mq-node)" = "kept: |left: |known: 1" ]
}

@test "closure filter: a bundle without WCB_ROLE_CLOSURE_* (an older wcbundle) keeps every pending upgrade; so does a selected role without one" {
    [ "$(split_pending mq-node,app-node "${PENDING_ALL[@]}")" = \
        "kept: erlang.x86_64 galera-4.x86_64 MariaDB-compat.x86_64 openssl-libs.x86_64 java-1.8.0-openjdk-headless.x86_64 rabbitmq-server.noarch|left: |known: 0" ]
    WCB_ROLE_CLOSURE_mq_node="$CLOSURE_MQ"
    [ "$(split_pending mq-node,app-node "${PENDING_ALL[@]:1:2}")" = "kept: galera-4.x86_64 MariaDB-compat.x86_64|left: |known: 0" ]
}

@test "closure filter: a closure word that is no package name is refused (exit 4), never used as a pattern" {
    WCB_ROLE_CLOSURE_mq_node='erlang *'
    run split_pending mq-node "galera-4.x86_64 26.4.21-1.el7"
    [ "$status" -eq 4 ]
    [[ "$output" == *"bundle.env's WCB_ROLE_CLOSURE_mq_node holds '*', which is not a package name"* ]]
}

@test "packages: only the host's roles' closures are upgraded (mq-node leaves db-node's MariaDB-compat alone, even running); db-node takes it" {
    with_closures "$B"
    pending "erlang.x86_64 23.3.4.20-1.el7 wcbundle-$ID" "galera-4.x86_64 26.4.21-1.el7 wcbundle-$ID" "Obsoleting Packages" \
        "MariaDB-compat.x86_64 10.11.11-1.el7.centos wcbundle-$ID" "    mariadb-libs.x86_64 1:5.5.56-2.el7 @System"
    install_pkgs "$B" wc-app1 --role mq-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] upgraded: erlang.x86_64; left alone: 2 package(s) newer in the bundle repos outside this host's roles' closures: galera-4.x86_64 MariaDB-compat.x86_64"* ]]
    [ "$(grep -c 'left alone' <<<"$output")" -eq 1 ]
    grep -qx -- "-y --disablerepo=\* --enablerepo=wcbundle-$ID --installroot=$WCB_ROOT --releasever=7 --setopt=reposdir=$WCB_ROOT/etc/yum.repos.d upgrade erlang.x86_64" "$DNF_LOG"
    [ "$(grep -c ' upgrade ' "$DNF_LOG")" -eq 1 ]
    grep -q "packages: 3 pending upgrade(s); 1 in the closures of roles mq-node (bundle.env WCB_ROLE_CLOSURE_\*): erlang.x86_64; 2 left alone: galera-4.x86_64 MariaDB-compat.x86_64" "$WCB_ROOT"/var/log/wcbundle/install-*.log
    # a running broker is no reason to refuse: what is left pending is not this node's to upgrade
    running rabbitmq-server workcenter
    : >"$DNF_LOG"
    install_pkgs "$B" wc-app1 --role mq-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] unchanged: 3 packages already installed; left alone: 2 package(s) newer in the bundle repos outside this host's roles' closures: galera-4.x86_64 MariaDB-compat.x86_64"* ]]
    refute grep -q ' upgrade ' "$DNF_LOG"
    # the db node's closure has both
    rm -f "$WCB_ROOT"/run/wcbundle/*.active
    install_pkgs "$B" wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] upgraded: galera-4.x86_64 MariaDB-compat.x86_64"* ]]
    [[ "$output" != *"left alone"* ]]
    grep -q -- " upgrade galera-4.x86_64 MariaDB-compat.x86_64\$" "$DNF_LOG"
}

@test "packages: a bundle without WCB_ROLE_CLOSURE_* upgrades every pending package, as before, and the log says why" {
    pending "erlang.x86_64 23.3.4.20-1.el7 wcbundle-$ID" "MariaDB-compat.x86_64 10.11.11-1.el7.centos wcbundle-$ID"
    install_pkgs "$B" wc-app1 --role mq-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"[packages] upgraded: erlang.x86_64 MariaDB-compat.x86_64"* ]]
    [[ "$output" != *"left alone"* ]]
    grep -q "bundle.env has no WCB_ROLE_CLOSURE_\* for roles mq-node (a bundle built by an older wcbundle): every installed package the bundle repos have newer is upgraded" "$WCB_ROOT"/var/log/wcbundle/install-*.log
}

@test "packages: an install run does not upgrade a running cluster node: exit 3 pointing to --upgrade" {
    running mariadb
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    install_pkgs "$B"
    [ "$status" -eq 3 ]
    [[ "$output" == *"upgrade 1 installed package(s) (MariaDB-server.x86_64) while mariadb run(s) on wc-db1"*"./install.sh --upgrade"* ]]
    refute grep -q ' upgrade ' "$DNF_LOG"
}

# ---------------------------------------------------------------- --upgrade: db-node and the db gate

# usage: upgrade_run NODE [ARG...]   ./install.sh --upgrade on NODE (health skipped: rabbitmqctl is real)
upgrade_run() {
    WCB_SKIP_PHASES="health" run "$B/install.sh" --upgrade --yes --node "$@"
}

@test "--upgrade db-node: gate passes, stop, upgrade from the bundle repos, start, wait Synced; a re-run changes nothing" {
    install_pkgs "$B"
    running mariadb
    db_healthy
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    : >"$DNF_LOG"
    upgrade_run wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[plan] wc-db1: upgrade MariaDB-server.x86_64"* ]]
    [[ "$output" == *"[gates] ok: db: 3 of 3 voters Synced and Primary"* ]]
    [[ "$output" == *"mariadb: Synced; same series 10.11: mariadb-upgrade is not needed"* ]]
    [ "$(cat "$WCB_STUB_LOG")" = "$(printf 'stop mariadb\nstart mariadb')" ]
    grep -qx -- "-y --disablerepo=\* --enablerepo=wcbundle-$ID --installroot=$WCB_ROOT --releasever=7 --setopt=reposdir=$WCB_ROOT/etc/yum.repos.d upgrade MariaDB-server.x86_64" "$DNF_LOG"
    # the peer's status was read over TCP with a 0600 option file (no password on argv)
    grep -qx 'defaults-file mode 600' "$UPG_DIR/mysql.log"
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/upgrade-in-progress" ]
    : >"$WCB_STUB_LOG"
    : >"$DNF_LOG"
    upgrade_run wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[plan] nothing to do"* ]]
    [[ "$output" == *"[gates] not needed"* ]]
    [[ "$output" == *"Nothing changed"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    refute grep -q ' upgrade ' "$DNF_LOG"
}

# usage: set_secret DIR KEY VALUE   change one secret of bundle DIR's site/secrets.env (and re-manifest it)
set_secret() {
    sed -i "s/^$2=.*/$2=$3/" "$1/site/secrets.env"
    make_manifest "$1"
}

# usage: no_changed_secret_in TEXT   fail when TEXT holds any value of the fixture's secrets.env (or the changed ones)
no_changed_secret_in() {
    no_secret_in "$1" SstPwChangedChangedChanged0123 ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ
}

@test "secrets: recorded as salted fingerprints (0600, never the values); --upgrade with another secret is refused (exit 3, key named, nothing stopped)" {
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    f="$WCB_ROOT/var/lib/wcbundle/secrets.sha256"
    [ "$(stat -c %a "$f")" = 600 ]
    [ "$(grep -c $'^salt\t[0-9a-f]\{32\}$' "$f")" -eq 1 ]
    [ "$(grep -c $'^WCB_[A-Z_]*\t[0-9a-f]\{64\}$' "$f")" -eq 6 ]
    no_changed_secret_in "$(cat "$f")"
    # salted: not the plain sha256 of the value
    refute grep -q "$(printf '%s' ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN | sha256sum | cut -d' ' -f1)" "$f"
    running mariadb
    db_healthy
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    set_secret "$B" WCB_DB_SST_PASSWORD SstPwChangedChangedChanged0123
    before="$(snapshot "$WCB_ROOT/var/lib/wcbundle")"
    : >"$DNF_LOG"
    upgrade_run wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"site/secrets.env sets WCB_DB_SST_PASSWORD to another value than the one wc-db1 was installed with"*"--upgrade never changes a running site's secrets"*"nothing was changed"*"wcbundle build --since"* ]]
    refute grep -q ERLANG <<<"$output"
    no_changed_secret_in "$output"
    no_changed_secret_in "$(cat "$WCB_ROOT"/var/log/wcbundle/* 2>/dev/null)"
    [ ! -s "$WCB_STUB_LOG" ]
    refute grep -q ' upgrade ' "$DNF_LOG"
    [ "$(snapshot "$WCB_ROOT/var/lib/wcbundle")" = "$before" ]
    # --rotate-secrets is no way around it: a usage error with --upgrade
    upgrade_run wc-db1 --rotate-secrets
    [ "$status" -eq 1 ]
    [[ "$output" == *"--rotate-secrets goes with a full bundle's install run"*"not --upgrade"* ]]
    [ "$(snapshot "$WCB_ROOT/var/lib/wcbundle")" = "$before" ]
    # the installed secrets again: the same upgrade passes
    cp "$FIXTURES/bundle/site/secrets.env" "$B/site/secrets.env"
    make_manifest "$B"
    upgrade_run wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[gates] ok: db: 3 of 3 voters Synced and Primary"* ]]
}

@test "secrets: an update bundle with other secrets is refused (even with --rotate-secrets); a full bundle's only with --rotate-secrets, then said and recorded" {
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    other_bundle upd workcenter-update-el7-x86_64-20261201 update "$(printf '2%.0s' {1..64})" "$ID" "$LOCK1"
    U="$BATS_TEST_TMPDIR/upd"
    set_secret "$U" WCB_ERLANG_COOKIE ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ
    install_pkgs "$U"
    [ "$status" -eq 3 ]
    [[ "$output" == *"site/secrets.env sets WCB_ERLANG_COOKIE to another value"*"an update bundle never changes"* ]]
    no_changed_secret_in "$output"
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/repos/workcenter-update-el7-x86_64-20261201" ]
    f="$WCB_ROOT/var/lib/wcbundle/secrets.sha256"
    old="$(grep '^WCB_ERLANG_COOKIE' "$f")"
    # even with --rotate-secrets: an update bundle never rotates
    install_pkgs "$U" wc-db1 --rotate-secrets
    [ "$status" -eq 3 ]
    [[ "$output" == *"an update bundle never changes"* ]]
    [ "$(grep '^WCB_ERLANG_COOKIE' "$f")" = "$old" ]
    # a full bundle's plain install is refused too (the other nodes keep the old cookie) ...
    set_secret "$B" WCB_ERLANG_COOKIE ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ
    install_pkgs "$B"
    [ "$status" -eq 3 ]
    [[ "$output" == *"site/secrets.env sets WCB_ERLANG_COOKIE to another value"*"--rotate-secrets"* ]]
    [ "$(grep '^WCB_ERLANG_COOKIE' "$f")" = "$old" ]
    # ... but with --rotate-secrets: a deliberate rotation, said (key only) and recorded
    install_pkgs "$B" wc-db1 --rotate-secrets
    [ "$status" -eq 0 ]
    [[ "$output" == *"Warning: --rotate-secrets: site/secrets.env changes WCB_ERLANG_COOKIE on wc-db1"* ]]
    no_changed_secret_in "$output"
    [ "$(grep '^WCB_ERLANG_COOKIE' "$f")" != "$old" ]
    install_pkgs "$B"
    [ "$status" -eq 0 ]
    refute grep -q "changes WCB_ERLANG_COOKIE" <<<"$output"
}

@test "--upgrade: a second db node is refused while the first is still rejoining (Joiner), and nothing is stopped" {
    install_pkgs "$B" wc-db2
    running mariadb
    # wc-db1 was just upgraded and is receiving its IST: in the component, not Synced yet
    db_status local Primary Synced 3
    db_status 127.10.0.22 Primary Synced 3
    db_status 127.10.0.21 Primary Joiner 3
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    upgrade_run wc-db2
    [ "$status" -eq 3 ]
    [[ "$output" == *"wc-db1 is Joiner, not Synced (still rejoining: IST/SST in progress): wait until it is Synced, then run this again"* ]]
    [[ "$output" == *"gate db failed on wc-db2"*"nothing was changed"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    refute grep -q ' upgrade ' "$DNF_LOG"
    # once wc-db1 is Synced, wc-db2 goes
    db_status 127.10.0.21 Primary Synced 3
    upgrade_run wc-db2
    [ "$status" -eq 0 ]
    [ "$(cat "$WCB_STUB_LOG")" = "$(printf 'stop mariadb\nstart mariadb')" ]
}

@test "--upgrade db gate: a peer that does not answer, a missing voter, a non-Primary component are each named" {
    install_pkgs "$B"
    running mariadb
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    db_status local Primary Synced 3
    db_status 127.10.0.21 Primary Synced 3
    upgrade_run wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"wc-db2 does not answer (mariadb down or unreachable on 127.10.0.22)"* ]]
    db_status 127.10.0.22 Primary Synced 2
    db_status local Primary Synced 2
    db_status 127.10.0.21 Primary Synced 2
    upgrade_run wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"wc-db1 sees 2 of the 3 voters in its Primary component"* ]]
    db_status 127.10.0.21 non-Primary Synced 1
    db_status local non-Primary Synced 1
    upgrade_run wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"wc-db1 is non-Primary (no quorum)"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
}

@test "--upgrade: a node interrupted mid-upgrade (marker, mariadb down, packages done) is brought back by re-running" {
    install_pkgs "$B"
    db_status 127.10.0.22 Primary Synced 2
    mkdir -p "$WCB_ROOT/var/lib/wcbundle"
    echo "$ID db-node" >"$WCB_ROOT/var/lib/wcbundle/upgrade-in-progress"
    # the stub's start makes mariadb answer Synced
    db_status local Primary Synced 3
    upgrade_run wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[plan] wc-db1: down now: mariadb; resuming the upgrade interrupted on this node"* ]]
    [[ "$output" == *"[gates] ok: db: 2 of 3 voters Synced and Primary"* ]]
    [ "$(cat "$WCB_STUB_LOG")" = "start mariadb" ]
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/upgrade-in-progress" ]
}

@test "--upgrade db-node: a new MariaDB series runs mariadb-upgrade --skip-write-binlog after the node is Synced" {
    install_pkgs "$B"
    running mariadb
    db_healthy
    pending "MariaDB-server.x86_64 11.4.4-1.el7 wcbundle-$ID"
    # the stub rpm reports the new series once dnf upgraded
    printf '%s\n' "MariaDB-server 11.4.4" "rabbitmq-server 3.9.16" >"$UPG_DIR/versions.after"
    # swap the versions file when dnf upgrades (a wrapper in front of the dnf stub)
    mkdir -p "$BATS_TEST_TMPDIR/pre"
    printf '#!/usr/bin/env bash\n[[ " $* " == *" upgrade "* ]] && cp "$UPG_DIR/versions.after" "$UPG_DIR/versions"\nexec %q "$@"\n' \
        "$FIXTURES/stubs-upgrade/dnf" >"$BATS_TEST_TMPDIR/pre/dnf"
    chmod +x "$BATS_TEST_TMPDIR/pre/dnf"
    PATH="$BATS_TEST_TMPDIR/pre:$PATH" upgrade_run wc-db1
    [ "$status" -eq 0 ]
    grep -q "^mariadb-upgrade --no-defaults --protocol=socket --socket=$WCB_ROOT/var/lib/mysql/mysql.sock -u root --skip-write-binlog$" "$UPG_DIR/mysql.log"
}

@test "--upgrade db-node: a MariaDB jump that skips a series is refused before anything stops (the vendor's ways named)" {
    install_pkgs "$B"
    running mariadb
    db_healthy
    printf '%s\n' "MariaDB-server 10.6.20" "rabbitmq-server 3.9.16" >"$UPG_DIR/versions"
    pending "MariaDB-server.x86_64 11.4.4-1.el7 wcbundle-$ID"
    : >"$DNF_LOG"
    upgrade_run wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"MariaDB 10.6.20 -> 11.4.4 skips a series in between"*"one major/LTS version at a time"* ]]
    [[ "$output" == *"upgrade every db node to MariaDB 10.11 first"*"full cluster shutdown"* ]]
    [[ "$output" != *"[gates]"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    refute grep -q ' upgrade ' "$DNF_LOG"
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/upgrade-in-progress" ]
}

# usage: db_jump OLD NEW   run wcb_db_jump_check OLD NEW from the bundle's libraries
db_jump() {
    run bash -c 'set -euo pipefail; source "$1/lib/common.sh"; source "$1/lib/upgrade.sh"; wcb_log() { :; }
        wcb_db_jump_check "$2" "$3"' _ "$B" "$1" "$2"
}

@test "wcb_db_jump_check: the next series, or an LTS to the next LTS, passes; a skip, a downgrade, an unknown jump are refused" {
    for ok in "10.11.10 10.11.11" "10.10.7 10.11.2" "10.6.20 10.11.10" "10.11.10 11.4.4" "11.4.4 11.8.2" "10.11.10 11.0.6" \
        "11.8.2 12.0.1" "12.2.1 12.3.1"; do
        db_jump $ok
        [ "$status" -eq 0 ] || { echo "refused: $ok: $output"; false; }
    done
    db_jump 10.9.8 10.11.10
    [ "$status" -eq 3 ]
    [[ "$output" == *"MariaDB 10.9.8 -> 10.11.10 skips a series"*"to MariaDB 10.10 first"* ]]
    db_jump 10.11.10 11.8.2
    [ "$status" -eq 3 ]
    [[ "$output" == *"to MariaDB 11.4 first"* ]]
    db_jump 10.5.27 10.11.10
    [ "$status" -eq 3 ]
    [[ "$output" == *"to MariaDB 10.6 first"* ]]
    db_jump 11.4.4 10.11.10
    [ "$status" -eq 3 ]
    [[ "$output" == *"is a downgrade"* ]]
    db_jump 12.2.1 13.1.0
    [ "$status" -eq 3 ]
    [[ "$output" == *"may skip a series"*"not in this installer's list"* ]]
    db_jump 10.11 garbage
    [ "$status" -eq 4 ]
}

@test "--upgrade arbitrator: the db gate, then garbd restarted with the new galera" {
    install_pkgs "$B" wc-arb
    running garb
    db_healthy
    pending "galera-4.x86_64 26.4.21-1.el7 wcbundle-$ID"
    upgrade_run wc-arb
    [ "$status" -eq 0 ]
    [[ "$output" == *"[gates] ok: db: 3 of 3 voters"* ]]
    [ "$(cat "$WCB_STUB_LOG")" = "$(printf 'stop garb\nstart garb')" ]
    grep -q ' upgrade galera-4.x86_64$' "$DNF_LOG"
}

# ---------------------------------------------------------------- --upgrade: mq-node (+ app-node) and the mq gate

mq_healthy() {
    mq_status '"rabbit@wc-app1","rabbit@wc-app2"' '[]'
}

@test "--upgrade mq-node,app-node: drain, stop app then broker, upgrade Erlang+RabbitMQ, start, revive; feature flags only with --finalize" {
    install_pkgs "$B" wc-app1
    running rabbitmq-server workcenter
    mq_healthy
    pending "erlang.x86_64 23.3.4.20-1.el7 wcbundle-$ID" "rabbitmq-server.noarch 3.9.29-1.el7 wcbundle-$ID"
    upgrade_run wc-app1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[gates] ok: mq: 2 nodes running, no alarm, no partition, not quorum-critical, no mirror-sync-critical queue"* ]]
    # this bundle's configuration is written while both are down (here for the first time: the units'
    # files are new, so systemd re-reads them), then the broker and the app start on it
    [ "$(cat "$WCB_STUB_LOG")" = "$(printf 'stop workcenter\nstop rabbitmq-server\ndaemon_reload\nstart rabbitmq-server\nstart workcenter')" ]
    grep -qx 'UMask=0077' "$WCB_ROOT/etc/systemd/system/rabbitmq-server.service.d/wcbundle.conf"
    [ -f "$WCB_ROOT/etc/systemd/system/workcenter.service" ]
    grep -q ' upgrade erlang.x86_64 rabbitmq-server.noarch$' "$DNF_LOG"
    [ "$(grep -E 'drain|revive|enable_feature_flag' "$UPG_DIR/mq.log" | tr '\n' ' ')" = "rabbitmq-upgrade -n rabbit@wc-app1 drain rabbitmq-upgrade -n rabbit@wc-app1 revive " ]
    [[ "$output" == *"--upgrade --finalize on one of them"* ]]
}

@test "--upgrade mq-node: the plan and the transaction keep to the node's roles' closures; the rest is left alone, said in the plan" {
    with_closures "$B"
    install_pkgs "$B" wc-app1
    running rabbitmq-server workcenter
    mq_healthy
    pending "erlang.x86_64 23.3.4.20-1.el7 wcbundle-$ID" "galera-4.x86_64 26.4.21-1.el7 wcbundle-$ID" \
        "rabbitmq-server.noarch 3.9.29-1.el7 wcbundle-$ID"
    : >"$DNF_LOG"
    upgrade_run wc-app1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[plan] wc-app1: upgrade erlang.x86_64 rabbitmq-server.noarch; left alone: 1 package(s) newer in the bundle repos outside this host's roles' closures: galera-4.x86_64"* ]]
    grep -q ' upgrade erlang.x86_64 rabbitmq-server.noarch$' "$DNF_LOG"
    refute grep -q 'upgrade.*galera-4' "$DNF_LOG"
    upgrade_run wc-app1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[plan] nothing to do: wc-app1 has no package of its roles' closures older than the bundle repos' and mq-node app-node run; left alone: 1 package(s) newer in the bundle repos outside this host's roles' closures: galera-4.x86_64"* ]]
}

@test "--upgrade mq gate: a node not running, an alarm, a partition, a quorum-critical node are each named; nothing stopped" {
    install_pkgs "$B" wc-app1
    running rabbitmq-server workcenter
    pending "rabbitmq-server.noarch 3.9.29-1.el7 wcbundle-$ID"
    mq_status '"rabbit@wc-app1"' '[]'
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"not running: rabbit@wc-app2"* && "$output" == *"gate mq failed on wc-app1"* ]]
    mq_status '"rabbit@wc-app1","rabbit@wc-app2"' '{"rabbit@wc-app1":["rabbit@wc-app2"]}'
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"a network partition is reported"* ]]
    mq_healthy
    echo "memory alarm on rabbit@wc-app2" >"$UPG_DIR/mq/alarms"
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"resource alarms are in effect (memory alarm on rabbit@wc-app2)"* ]]
    rm "$UPG_DIR/mq/alarms"
    echo "queue q1 would lose quorum" >"$UPG_DIR/mq/critical"
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"check_if_node_is_quorum_critical fails on rabbit@wc-app1 (queue q1 would lose quorum)"* ]]
    rm "$UPG_DIR/mq/critical"
    # 3.x, ha-all: a classic mirrored queue whose only synchronised copy is on this node
    echo "queue q2 has no synchronised mirror elsewhere" >"$UPG_DIR/mq/mirror-critical"
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"check_if_node_is_mirror_sync_critical fails on rabbit@wc-app1 (queue q2 has no synchronised mirror elsewhere)"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    refute grep -q 'drain' "$UPG_DIR/mq.log"
}

@test "--upgrade mq: a skipped minor series and 3.x -> 4.x are refused (the blue-green way named, deprecated features checked)" {
    install_pkgs "$B" wc-app1
    running rabbitmq-server workcenter
    mq_healthy
    pending "rabbitmq-server.noarch 3.11.28-1.el7 wcbundle-$ID"
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"RabbitMQ 3.9.16 -> 3.11.28 skips the minor series in between"*"newest 3.10.x first"* ]]
    printf '%s\n' "MariaDB-server 10.11.10" "rabbitmq-server 3.13.7" >"$UPG_DIR/versions"
    pending "rabbitmq-server.noarch 4.0.5-1.el7 wcbundle-$ID"
    echo "classic_queue_mirroring is used by 3 queues" >"$UPG_DIR/mq/deprecated"
    upgrade_run wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"RabbitMQ 3.13.7 -> 4.0.5 changes the major version"*"blue-green deployment"*"deprecated features in use: classic_queue_mirroring is used by 3 queues"* ]]
    grep -q 'check_if_any_deprecated_features_are_used' "$UPG_DIR/mq.log"
    [ ! -s "$WCB_STUB_LOG" ]
}

@test "--upgrade --finalize: refused while an mq node runs the old version; enables all feature flags once all run the new one" {
    install_pkgs "$B" wc-app1
    running rabbitmq-server workcenter
    mq_status '"rabbit@wc-app1","rabbit@wc-app2"' '[]' '"rabbit@wc-app1":{"rabbitmq_version":"3.9.16"},"rabbit@wc-app2":{"rabbitmq_version":"3.9.13"}'
    upgrade_run wc-app1 --finalize
    [ "$status" -eq 3 ]
    [[ "$output" == *"--finalize refused: not every mq node runs RabbitMQ 3.9.16 yet: rabbit@wc-app2 (3.9.13)"* ]]
    refute grep -q enable_feature_flag "$UPG_DIR/mq.log"
    mq_status '"rabbit@wc-app1","rabbit@wc-app2"' '[]' '"rabbit@wc-app1":{"rabbitmq_version":"3.9.16"},"rabbit@wc-app2":{"rabbitmq_version":"3.9.16"}'
    upgrade_run wc-app1 --finalize
    [ "$status" -eq 0 ]
    grep -qx 'rabbitmqctl -n rabbit@wc-app1 enable_feature_flag all' "$UPG_DIR/mq.log"
    run "$B/install.sh" --finalize --yes
    [ "$status" -eq 1 ]
    [[ "$output" == *"--finalize goes with --upgrade"* ]]
}

@test "--upgrade under the lab seam (WCB_SKIP_PHASES names packages): no rpm or dnf, a restart-only roll behind the real gate; recorded, so a re-run changes nothing" {
    running mariadb
    db_healthy
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    : >"$DNF_LOG"
    # no rpm database (the lab's Debian binaries): the plan must not ask it
    RPM_INSTALLED="" WCB_SKIP_PHASES="repo packages health" run "$B/install.sh" --upgrade --yes --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[repo] skipped (WCB_SKIP_PHASES)"* ]]
    [[ "$output" == *"[plan] wc-db1: restart only to $ID (package steps skipped: WCB_SKIP_PHASES names packages)"* ]]
    [[ "$output" == *"[gates] ok: db: 3 of 3 voters Synced and Primary"* ]]
    [[ "$output" == *"packages: skipped (WCB_SKIP_PHASES names packages): no dnf transaction"* ]]
    [[ "$output" == *"mariadb-upgrade: skipped with the package steps"* ]]
    [ "$(cat "$WCB_STUB_LOG")" = "$(printf 'stop mariadb\nstart mariadb')" ]
    [ ! -s "$DNF_LOG" ]
    [ "$(grep -v '^#' "$WCB_ROOT/var/lib/wcbundle/installed.tsv" | cut -f1)" = "$ID" ]
    [ ! -e "$WCB_ROOT/var/lib/wcbundle/upgrade-in-progress" ]
    : >"$WCB_STUB_LOG"
    RPM_INSTALLED="" WCB_SKIP_PHASES="repo packages health" run "$B/install.sh" --upgrade --yes --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"[plan] nothing to do: wc-db1 already records $ID"* && "$output" == *"Nothing changed"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    # the next bundle rolls again, and its gate is the real one: a peer still rejoining refuses it
    set_bundle "$B" workcenter-update-el7-x86_64-20270226 update "$LOCK1" "$ID" "$LOCK1"
    db_status 127.10.0.22 Primary Joiner 3
    RPM_INSTALLED="" WCB_SKIP_PHASES="repo packages health" run "$B/install.sh" --upgrade --yes --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"wc-db2 is Joiner, not Synced (still rejoining"*"gate db failed on wc-db1"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    [ ! -s "$DNF_LOG" ]
}

@test "--upgrade refuses the lab seam on a systemd host (exit 1): a patch day that installs nothing never reports success" {
    running mariadb
    db_healthy
    pending "MariaDB-server.x86_64 10.11.11-1.el7 wcbundle-$ID"
    : >"$DNF_LOG"
    WCB_SERVICE_BACKEND=systemd RPM_INSTALLED="" WCB_SKIP_PHASES="repo packages health" run "$B/install.sh" --upgrade --yes --node wc-db1
    [ "$status" -eq 1 ]
    [[ "$output" == *"WCB_SKIP_PHASES names packages, a lab seam that makes --upgrade a restart only; on a systemd host"* ]]
    [ ! -s "$WCB_STUB_LOG" ]
    [ ! -s "$DNF_LOG" ]
    if grep -qs "$ID" "$WCB_ROOT/var/lib/wcbundle/installed.tsv"; then false; fi
}

@test "--upgrade --finalize under the lab seam: the version this node runs is the one every mq node must run" {
    running rabbitmq-server workcenter
    mq_status '"rabbit@wc-app1","rabbit@wc-app2"' '[]' '"rabbit@wc-app1":{"rabbitmq_version":"3.10.8"},"rabbit@wc-app2":{"rabbitmq_version":"3.10.7"}'
    RPM_INSTALLED="" WCB_SKIP_PHASES="repo packages health" run "$B/install.sh" --upgrade --finalize --yes --node wc-app1
    [ "$status" -eq 3 ]
    [[ "$output" == *"--finalize refused: not every mq node runs RabbitMQ 3.10.8 yet: rabbit@wc-app2 (3.10.7)"* ]]
    refute grep -q enable_feature_flag "$UPG_DIR/mq.log"
    mq_status '"rabbit@wc-app1","rabbit@wc-app2"' '[]' '"rabbit@wc-app1":{"rabbitmq_version":"3.10.8"},"rabbit@wc-app2":{"rabbitmq_version":"3.10.8"}'
    RPM_INSTALLED="" WCB_SKIP_PHASES="repo packages health" run "$B/install.sh" --upgrade --finalize --yes --node wc-app1
    [ "$status" -eq 0 ]
    grep -qx 'rabbitmqctl -n rabbit@wc-app1 enable_feature_flag all' "$UPG_DIR/mq.log"
    [[ "$output" == *"[finalize] every mq node runs RabbitMQ 3.10.8: all feature flags enabled"* ]]
}

@test "--upgrade on a node whose roles are not installed is refused, pointing to a plain install" {
    RPM_INSTALLED="" upgrade_run wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"are not installed on wc-db1: install the node first"* ]]
}
