#!/usr/bin/env bats
# --dry-run prints the whole plan and changes nothing; a second real run changes nothing and says so.

load helpers

setup() {
    make_bundle
    make_root
    # preflight's port check sees this host's listeners (a RabbitMQ or MariaDB on 0.0.0.0): not what these tests check
    export WCB_SKIP_PHASES="preflight"
}

@test "--dry-run --role db-node prints packages, files, rules, SELinux and service actions; root and bundle unchanged" {
    before_root="$(snapshot "$WCB_ROOT")"
    before_bundle="$(snapshot "$B")"
    run "$B/install.sh" --dry-run --role db-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"showing wc-db1, the first node with roles db-node"* ]]
    [[ "$output" == *"would run: "*"'--disablerepo=*' --enablerepo=wcbundle"*"install MariaDB-server MariaDB-client MariaDB-backup galera-4 rsync socat lsof"* ]]
    [[ "$output" == *"would create $WCB_ROOT/etc/yum.repos.d/wcbundle.repo"* ]]
    [[ "$output" == *"would update $WCB_ROOT/etc/hosts"* ]]
    [[ "$output" == *"would create $WCB_ROOT/etc/my.cnf.d/galera.cnf (640 root:mysql)"* ]]
    [[ "$output" == *"firewall: firewall-cmd --permanent '--add-rich-rule="* ]]
    [[ "$output" == *"4567/tcp (mysqld_port_t)"* ]]
    [[ "$output" == *"would bootstrap galera"* ]]
    [[ "$output" == *"DRY RUN complete:"*"nothing was changed"* ]]
    [ "$(snapshot "$WCB_ROOT")" = "$before_root" ]
    [ "$(snapshot "$B")" = "$before_bundle" ]
    [[ "$output" != *SstPw* ]]
}

@test "--dry-run --role mq-node,app-node covers both roles and changes nothing" {
    before_root="$(snapshot "$WCB_ROOT")"
    run "$B/install.sh" --dry-run --role mq-node,app-node
    [ "$status" -eq 0 ]
    [[ "$output" == *"install erlang rabbitmq-server logrotate java-1.8.0-openjdk-headless"* ]]
    [[ "$output" == *"would create $WCB_ROOT/var/lib/rabbitmq/.erlang.cookie (400 rabbitmq:rabbitmq)"* ]]
    [[ "$output" == *"would create $WCB_ROOT/opt/workcenter/WorkCenter-app.yml"* ]]
    [[ "$output" == *"would start service rabbitmq-server"* ]]
    [[ "$output" == *"would start service workcenter"* ]]
    [[ "$output" == *"would apply the queue policy: ha-all"* ]]
    # rabbitmq-server before workcenter: the app starts last
    [[ "$output" == *"start service rabbitmq-server"*"start service workcenter"* ]]
    [ "$(snapshot "$WCB_ROOT")" = "$before_root" ]
    [[ "$output" != *ABCDEFGHIJKLMNOP* ]]
    [[ "$output" != *MqApp0123* ]]
}

@test "packages: only the missing ones are installed, from the bundle repo alone, with an installroot under WCB_ROOT" {
    mkdir -p "$WCB_ROOT/var/lib/rpm"
    RPM_INSTALLED="MariaDB-server galera-4 rsync socat lsof MariaDB-client" PATH="$FIXTURES/stubs-rpmdb:$PATH" \
        run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"--installroot=$WCB_ROOT --releasever=7 --setopt=reposdir=$WCB_ROOT/etc/yum.repos.d install MariaDB-backup"* ]]
    [[ "$output" == *"[packages] would install: MariaDB-backup"* ]]
    RPM_INSTALLED="MariaDB-server galera-4 rsync socat lsof MariaDB-client MariaDB-backup" PATH="$FIXTURES/stubs-rpmdb:$PATH" \
        run "$B/install.sh" --dry-run --node wc-db1
    [[ "$output" == *"[packages] unchanged: 7 packages already installed"* ]]
}

@test "EL8: module disable mariadb mysql through the bundle repo alone, before the install" {
    sed -i 's/^WCB_EL=7/WCB_EL=8/; s/^WCB_PKG_MANAGER=yum/WCB_PKG_MANAGER=dnf/; s/^WCB_MODULE_DISABLE=.*/WCB_MODULE_DISABLE="mariadb mysql"/' "$B/bundle.env"
    make_manifest "$B"
    sed -i 's/^VERSION_ID=.*/VERSION_ID="8.9"/' "$WCB_ROOT/etc/os-release"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"would run: dnf -y '--disablerepo=*' --enablerepo=wcbundle"*"module disable mariadb mysql"*"would run: dnf -y '--disablerepo=*' --enablerepo=wcbundle"*" install MariaDB-server"* ]]
}

@test "a second run on a configured host changes nothing, says so, exits 0, leaves files and mtimes alone" {
    export WCB_SKIP_PHASES="preflight packages services health"
    for n in wc-db1 wc-app1 wc-arb; do
        run "$B/install.sh" --yes --node "$n"
        [ "$status" -eq 0 ]
    done
    before="$(cd "$WCB_ROOT" && find . -path ./var/log -prune -o -printf '%p %m %T@ %s\n' | LC_ALL=C sort)"
    for n in wc-db1 wc-app1 wc-arb; do
        run "$B/install.sh" --yes --node "$n"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Nothing changed: $n was already configured"* ]]
    done
    after="$(cd "$WCB_ROOT" && find . -path ./var/log -prune -o -printf '%p %m %T@ %s\n' | LC_ALL=C sort)"
    [ "$before" = "$after" ]
}

@test "a file changed by hand is restored and the hand-edited copy is backed up" {
    export WCB_SKIP_PHASES="preflight packages services health"
    run "$B/install.sh" --yes --node wc-db1
    printf 'max_connections=5\n' >>"$WCB_ROOT/etc/my.cnf.d/galera.cnf"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"Done: 1 change on wc-db1"* ]]
    refute grep -q max_connections "$WCB_ROOT/etc/my.cnf.d/galera.cnf"
    grep -q max_connections "$WCB_ROOT"/etc/my.cnf.d/galera.cnf.wcbundle-bak.*
    [ "$(stat -c %a "$WCB_ROOT"/etc/my.cnf.d/galera.cnf.wcbundle-bak.*)" = 640 ]
}

@test "an interrupted run (killed mid-config) can simply be run again" {
    export WCB_SKIP_PHASES="preflight packages services health"
    # simulate the interruption: a half-written temp file and a missing config
    mkdir -p "$WCB_ROOT/etc/rabbitmq"
    printf 'partial' >"$WCB_ROOT/etc/rabbitmq/.rabbitmq.conf.wcbundle-tmp.999"
    run "$B/install.sh" --yes --node wc-app1
    [ "$status" -eq 0 ]
    grep -q classic_config "$WCB_ROOT/etc/rabbitmq/rabbitmq.conf"
    run "$B/install.sh" --yes --node wc-app1
    [[ "$output" == *"Nothing changed"* ]]
}

@test "logs hold no secret" {
    export WCB_SKIP_PHASES="preflight packages services health"
    for n in wc-db1 wc-app1 wc-arb; do
        run "$B/install.sh" --yes --node "$n"
        [ "$status" -eq 0 ]   # every role's config (galera.cnf with the SST secret, users SQL) was written
    done
    ls "$WCB_ROOT"/var/log/wcbundle/install-*.log >/dev/null
    local searched=0
    while IFS='=' read -r _ v; do
        [ -n "$v" ] || continue
        refute grep -rqF -- "$v" "$WCB_ROOT/var/log/wcbundle"
        searched=$((searched + 1))
    done < <(grep '^WCB_' "$B/site/secrets.env")
    [ "$searched" -ge 6 ]
    [ "$(stat -c %a "$WCB_ROOT/var/log/wcbundle")" = 750 ]
}
