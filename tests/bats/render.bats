#!/usr/bin/env bats
# Phase 6: the renderer, and the rendered file of every role.

load helpers

setup() {
    make_bundle
    make_root
    # preflight's port check sees this host's listeners (a RabbitMQ or MariaDB on 0.0.0.0): not what these tests check
    export WCB_SKIP_PHASES="preflight packages services health"
}

# usage: render_lib   source the installer's libraries in this shell (the renderer's unit tests)
render_lib() {
    # shellcheck source=/dev/null
    for f in common env render; do source "$B/lib/$f.sh"; done
    set +u # the libraries set -u; bats itself needs it off (errexit stays on: it fails the test)
}

@test "the renderer substitutes allow-listed variables and never re-expands values" {
    render_lib
    printf 'a={{WCB_DB_NAME}} b={{WCB_NODE}}{{WCB_NODE}}\n' >"$BATS_TEST_TMPDIR/t"
    WCB_DB_NAME='{{WCB_NODE}}'
    WCB_NODE=x
    run wcb_render "$BATS_TEST_TMPDIR/t"
    [ "$status" -eq 0 ]
    [ "$output" = "a={{WCB_NODE}} b=xx" ]
}

@test "the renderer fails (exit 4) on an unknown variable, naming template and line" {
    render_lib
    printf 'ok\nx={{HOME}}\n' >"$BATS_TEST_TMPDIR/t"
    run wcb_render "$BATS_TEST_TMPDIR/t"
    [ "$status" -eq 4 ]
    [[ "$output" == *"t:2: unknown template variable {{HOME}}"* ]]
}

@test "the renderer fails on an unset variable and on an unterminated placeholder" {
    render_lib
    unset WCB_VIP
    printf 'x={{WCB_VIP}}\n' >"$BATS_TEST_TMPDIR/t"
    run wcb_render "$BATS_TEST_TMPDIR/t"
    [ "$status" -eq 4 ]
    [[ "$output" == *"{{WCB_VIP}} is not set"* ]]
    printf 'x={{WCB_VIP\n' >"$BATS_TEST_TMPDIR/t"
    WCB_VIP=1
    run wcb_render "$BATS_TEST_TMPDIR/t"
    [ "$status" -eq 4 ]
    [[ "$output" == *"unterminated"* ]]
}

@test "a YAML template gets ' doubled, list lines expanded, control characters refused; others stay raw" {
    render_lib
    printf "a: '{{WCB_DB_NAME}}' # {{WCB_NODE}}\n  - '{{TPL_APP_MEMBERS[]}}'\n" >"$BATS_TEST_TMPDIR/t.yml"
    WCB_DB_NAME="it's: #1 '{{WCB_NODE}}'"
    WCB_NODE="o'k"
    TPL_APP_MEMBERS="10.0.0.1 10.0.0.2"
    run wcb_render "$BATS_TEST_TMPDIR/t.yml"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf "a: 'it''s: #1 ''{{WCB_NODE}}''' # o''k\n  - '10.0.0.1'\n  - '10.0.0.2'")" ]
    printf "a={{WCB_NODE}}\n" >"$BATS_TEST_TMPDIR/t.cnf"
    run wcb_render "$BATS_TEST_TMPDIR/t.cnf"
    [ "$output" = "a=o'k" ]
    WCB_NODE=$'two\nlines'
    run wcb_render "$BATS_TEST_TMPDIR/t.yml"
    [ "$status" -eq 4 ]
    [[ "$output" == *"t.yml:1: the value of {{WCB_NODE}} holds a control character"* ]]
    [[ "$output" != *two* ]]
}

@test "every template names only allow-listed variables" {
    render_lib
    for t in "$B"/templates/*; do
        while read -r name; do
            wcb_in_list "$name" "${WCB_TPL_ALLOWED[@]}" || { echo "$t: $name"; return 1; }
        done < <(grep -o '{{[^}]*}}' "$t" | tr -d '{}' | sed 's/\[\]$//')
    done
}

@test "db-node: galera.cnf has the wsrep settings, found provider, paths under the root, 0640" {
    run "$B/install.sh" --yes --node wc-db2
    [ "$status" -eq 0 ]
    f="$WCB_ROOT/etc/my.cnf.d/galera.cnf"
    assert_lines "$f" \
        'wsrep_on=ON' \
        'wsrep_provider=/usr/lib/galera/libgalera_smm.so' \
        'wsrep_cluster_address=gcomm://127.10.0.21,127.10.0.22,127.10.0.31' \
        'wsrep_cluster_name=acme_galera' \
        'wsrep_node_address=127.10.0.22' \
        'wsrep_node_name=wc-db2' \
        'wsrep_sst_method=rsync' \
        'wsrep_sst_auth=sst:SstPw0123456789abcdefABCDEF01234' \
        'binlog_format=ROW' \
        'default_storage_engine=InnoDB' \
        'innodb_autoinc_lock_mode=2' \
        'innodb_flush_log_at_trx_commit=1' \
        "datadir=$WCB_ROOT/var/lib/mysql" \
        "socket=$WCB_ROOT/var/lib/mysql/mysql.sock"
    [ "$(stat -c %a "$f")" = 640 ]
    [[ "$output" != *SstPw* ]]
    # gcache sized for IST rejoins, and recovered after a crash (issue 13)
    grep -q '^wsrep_provider_options=".*;gcache.size=1G;gcache.recover=yes"$' "$f"
}

@test "db-node: galera.durability relaxed writes innodb_flush_log_at_trx_commit=2 and says what it risks" {
    sed -i 's/^WCB_GALERA_DURABILITY=.*/WCB_GALERA_DURABILITY=relaxed/; s/^WCB_GALERA_GCACHE_SIZE=.*/WCB_GALERA_GCACHE_SIZE=256M/' "$B/site/site.env"
    run "$B/install.sh" --yes --node wc-db2
    [ "$status" -eq 0 ]
    f="$WCB_ROOT/etc/my.cnf.d/galera.cnf"
    assert_lines "$f" 'innodb_flush_log_at_trx_commit=2'
    grep -q 'gcache.size=256M;gcache.recover=yes"$' "$f"
    [[ "$output" == *"durability is relaxed: a power cut of every db node can lose"* ]]
}

@test "site.env: a durability or gcache size outside the schema is a site error (exit 3)" {
    sed -i 's/^WCB_GALERA_DURABILITY=.*/WCB_GALERA_DURABILITY=fast/; s/^WCB_GALERA_GCACHE_SIZE=.*/WCB_GALERA_GCACHE_SIZE=10M/' "$B/site/site.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_GALERA_DURABILITY: 'fast': it must be full or relaxed"* ]]
    [[ "$output" == *"WCB_GALERA_GCACHE_SIZE: '10M': it must be a size from 100M to 99G"* ]]
}

@test "arbitrator: /etc/sysconfig/garb has nodes and group, no '# REMOVE' line" {
    run "$B/install.sh" --yes --node wc-arb
    [ "$status" -eq 0 ]
    f="$WCB_ROOT/etc/sysconfig/garb"
    assert_lines "$f" \
        'GALERA_NODES="127.10.0.21:4567 127.10.0.22:4567"' \
        'GALERA_GROUP="acme_galera"'
    refute grep -q '^# REMOVE' "$f"
}

@test "mq-node: cookie 0400, env NODENAME, classic_config peers, management plugin" {
    run "$B/install.sh" --yes --node wc-app2 --role mq-node
    [ "$status" -eq 0 ]
    c="$WCB_ROOT/var/lib/rabbitmq/.erlang.cookie"
    [ "$(stat -c %a "$c")" = 400 ]
    if getent passwd rabbitmq >/dev/null; then [ "$(stat -c %U:%G "$c")" = rabbitmq:rabbitmq ]; fi
    [ "$(cat "$c")" = ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN ]
    [[ "$output" != *ABCDEFGHIJKLMNOP* ]]
    grep -qx 'NODENAME=rabbit@wc-app2' "$WCB_ROOT/etc/rabbitmq/rabbitmq-env.conf"
    grep -qx "MNESIA_BASE=$WCB_ROOT/var/lib/rabbitmq/mnesia" "$WCB_ROOT/etc/rabbitmq/rabbitmq-env.conf"
    f="$WCB_ROOT/etc/rabbitmq/rabbitmq.conf"
    assert_lines "$f" \
        'cluster_formation.peer_discovery_backend = classic_config' \
        'cluster_formation.classic_config.nodes.1 = rabbit@wc-app1' \
        'cluster_formation.classic_config.nodes.2 = rabbit@wc-app2'
    grep -qx '\[rabbitmq_management\].' "$WCB_ROOT/etc/rabbitmq/enabled_plugins"
    # the unit's drop-in: a crash dump (it holds the cookie) beside the cookie, 0600
    d="$WCB_ROOT/etc/systemd/system/rabbitmq-server.service.d/wcbundle.conf"
    [ "$(grep -v '^#' "$d")" = "$(printf '[Service]\nEnvironment=ERL_CRASH_DUMP=/var/lib/rabbitmq/erl_crash.dump\nUMask=0077')" ]
    [ "$(stat -c %a "$d")" = 644 ]
    # 2 mq nodes: pause_minority would pause both halves; the first node keeps serving (issue 13)
    assert_lines "$f" \
        'cluster_partition_handling = pause_if_all_down' \
        'cluster_partition_handling.pause_if_all_down.nodes.1 = rabbit@wc-app1'
}

@test "mq partition handling by node count and version: pause_minority on 3.x with 3+, none on 4.x" {
    render_lib
    for f in site mq; do source "$B/lib/$f.sh"; done
    set +u
    wcb_role_nodes() { printf '%s\n' 1 2 3; }
    wcb_role_field() { printf 'mq1 mq2 mq3\n'; }
    wcb_mq_version() { printf '3.13.7\n'; }
    [ "$(wcb_mq_partition_handling)" = 'cluster_partition_handling = pause_minority' ]
    [ "$(wcb_mq_partition_words)" = pause_minority ]
    wcb_mq_version() { printf '4.1.2\n'; }
    run wcb_mq_partition_handling
    [[ "$output" == '# cluster_partition_handling: not set: RabbitMQ 4.1.2 relies on quorum queues'* ]]
    [[ "$output" != *$'\n'cluster_partition_handling* ]]
    [[ "$(wcb_mq_partition_words)" == "none (RabbitMQ 4.1.2 relies on quorum queues"* ]]
    wcb_role_nodes() { printf '%s\n' 1; }
    wcb_mq_version() { printf '3.10.8\n'; }
    [[ "$(wcb_mq_partition_handling)" == '# cluster_partition_handling: one node'* ]]
}

@test "app-node: WorkCenter-app.yml, the jar (checksum verified) and the unit running java -jar" {
    run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 0 ]
    y="$WCB_ROOT/opt/workcenter/WorkCenter-app.yml"
    assert_lines "$y" \
        "  url: 'http://127.10.0.100:8080'" \
        "    url: 'jdbc:mariadb:sequential://127.10.0.21:3306,127.10.0.22:3306/workcenter?autoReconnect=true'" \
        "      connection-timeout: 5000" \
        "    addresses: '127.10.0.11:5672, 127.10.0.12:5672'" \
        "    enable: true" \
        "      - '127.10.0.11'" \
        "      - '127.10.0.12'" \
        "    webUrl: 'http://127.10.0.100:8080'" \
        "    tokenUrl: 'http://127.10.0.100:8080/oauth/token'" \
        "    description: 'ACME 운영 도메인: ''prod'' #1'" \
        "    title: 'ACME \"WorkCenter\" API: 문서'" \
        "    licenseUrl: 'https://acme.local/license?x=1#terms'"
    refute grep -q '127.10.0.31' "$y"
    python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1], encoding="utf-8")); assert d["workcenter"]["domain"]["description"] == "ACME 운영 도메인: '"'"'prod'"'"' #1", d' "$y"
    [ "$(stat -c %a "$y")" = 640 ]
    cmp "$B/site/WorkCenter.jar" "$WCB_ROOT/opt/workcenter/WorkCenter.jar"
    u="$WCB_ROOT/etc/systemd/system/workcenter.service"
    grep -qx 'ExecStart=/usr/bin/java -jar /opt/workcenter/WorkCenter.jar --spring.config.additional-location=file:/opt/workcenter/WorkCenter-app.yml' "$u"
    grep -qx 'User=workcenter' "$u"
}

@test "app-node: a jar that does not match WCB_APP_JAR_SHA256 is refused" {
    sed -i 's/^WCB_APP_JAR_SHA256=.*/WCB_APP_JAR_SHA256=0000000000000000000000000000000000000000000000000000000000000000/' "$B/site/site.env"
    run "$B/install.sh" --yes --node wc-app1 --role app-node
    [ "$status" -eq 2 ]
    [[ "$output" == *"site/WorkCenter.jar: sha256"* ]]
    [ ! -e "$WCB_ROOT/opt/workcenter/WorkCenter.jar" ]
}

@test "repo: wcbundle.repo points at the kept copy of the repo with gpgcheck=1 and the kept keys; other .repo files untouched" {
    mkdir -p "$WCB_ROOT/etc/yum.repos.d"
    printf '[base]\nbaseurl=http://mirror.invalid/\n' >"$WCB_ROOT/etc/yum.repos.d/CentOS-Base.repo"
    cp "$WCB_ROOT/etc/yum.repos.d/CentOS-Base.repo" "$BATS_TEST_TMPDIR/base.copy"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    f="$WCB_ROOT/etc/yum.repos.d/wcbundle.repo"
    id=workcenter-el7-x86_64-20261126
    grep -qx "\\[wcbundle-$id\\]" "$f"
    k="$WCB_ROOT/var/lib/wcbundle/keys/$id"
    assert_lines "$f" \
        "baseurl=file://$WCB_ROOT/var/lib/wcbundle/repos/$id" \
        'gpgcheck=1' \
        "gpgkey=file://$k/RPM-GPG-KEY-c7-os file://$k/RPM-GPG-KEY-mariadb" \
        'module_hotfixes=1'
    cmp "$WCB_ROOT/etc/yum.repos.d/CentOS-Base.repo" "$BATS_TEST_TMPDIR/base.copy"
    [ "$(ls "$WCB_ROOT/etc/yum.repos.d" | wc -l)" -eq 2 ]
}

@test "db-node: mariabackup SST without mariabackup installed is an install failure naming the package" {
    command -v mariabackup && skip "mariabackup is installed on this host"
    sed -i 's/^WCB_GALERA_SST_METHOD=.*/WCB_GALERA_SST_METHOD=mariabackup/' "$B/site/site.env"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 4 ]
    [[ "$output" == *"wsrep_sst_method=mariabackup needs mariabackup"*"MariaDB-backup"* ]]
    [ ! -e "$WCB_ROOT/etc/my.cnf.d/galera.cnf" ]
}

@test "wcb_port prints a service's port from site/flows.tsv; an absent key is exit 4 naming it" {
    # shellcheck source=/dev/null
    for f in common env site_schema site; do source "$B/lib/$f.sh"; done
    set +u
    WCB_BUNDLE="$B"
    run wcb_port galera
    [ "$status" -eq 0 ]
    [ "$output" = 4567 ]
    run wcb_port rabbit-cli
    [ "$output" = 35672-35682 ]
    run wcb_port no-such-service
    [ "$status" -eq 4 ]
    [[ "$output" == *"site/flows.tsv has no flow with key 'no-such-service'"* ]]
}

@test "every port comes from site/flows.tsv: changed ports there reach every rendered file, rule and label" {
    # 4567 -> 4574 and so on: any port the installer hard-coded would keep its old value
    awk -F '\t' -v OFS='\t' '!/^#/ { if ($1 ~ /^[0-9]+$/) $1 = $1 + 7 } { print }' "$B/site/flows.tsv" >"$BATS_TEST_TMPDIR/f"
    cp "$BATS_TEST_TMPDIR/f" "$B/site/flows.tsv"
    make_manifest "$B"
    export SELINUX_MODE=Enforcing SEMANAGE_CALLS="$BATS_TEST_TMPDIR/se.calls" SEMANAGE_STATE="$BATS_TEST_TMPDIR/se.state"
    PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --yes --node wc-db2
    [ "$status" -eq 0 ]
    assert_lines "$WCB_ROOT/etc/my.cnf.d/galera.cnf" \
        'port=3313' \
        'wsrep_sst_receive_address=127.10.0.22:4451' \
        'wsrep_provider_options="gmcast.listen_addr=tcp://127.10.0.22:4574;ist.recv_addr=127.10.0.22:4575;gcache.size=1G;gcache.recover=yes"'
    [ "$(grep -- ' -a ' "$SEMANAGE_CALLS" | sort)" = "$(printf 'port -a -t mysqld_port_t -p tcp %s\n' 4451 4574 4575)" ]
    [[ "$output" == *'source address="127.10.0.31/32" port port="4574"'* ]]
    run "$B/install.sh" --yes --node wc-arb
    [ "$status" -eq 0 ]
    assert_lines "$WCB_ROOT/etc/sysconfig/garb" \
        'GALERA_NODES="127.10.0.21:4574 127.10.0.22:4574"' \
        'GALERA_OPTIONS="gmcast.listen_addr=tcp://127.10.0.31:4574"'
    run "$B/install.sh" --yes --node wc-app1
    [ "$status" -eq 0 ]
    assert_lines "$WCB_ROOT/etc/rabbitmq/rabbitmq.conf" 'listeners.tcp.default = 5679' 'management.tcp.port = 15679'
    grep -qF "url: 'jdbc:mariadb:sequential://127.10.0.21:3313,127.10.0.22:3313/workcenter?autoReconnect=true'" \
        "$WCB_ROOT/opt/workcenter/WorkCenter-app.yml"
    grep -qF "addresses: '127.10.0.11:5679, 127.10.0.12:5679'" "$WCB_ROOT/opt/workcenter/WorkCenter-app.yml"
}

@test "a site/flows.tsv without the key column (an older bundle) is an install failure (exit 4)" {
    cut -f 1-6 "$B/site/flows.tsv" >"$BATS_TEST_TMPDIR/f"
    cp "$BATS_TEST_TMPDIR/f" "$B/site/flows.tsv"
    make_manifest "$B"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 4 ]
    [[ "$output" == *"site/flows.tsv line 2 has no service key (7th column)"*"rebuild it"* ]]
    [ ! -e "$WCB_ROOT/etc/my.cnf.d/galera.cnf" ]
}
