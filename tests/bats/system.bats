#!/usr/bin/env bats
# Phase 5: the /etc/hosts block, firewalld rules from flows.tsv, SELinux port labels.

load helpers

setup() {
    make_bundle
    make_root
    # preflight's port check sees this host's listeners (a RabbitMQ or MariaDB on 0.0.0.0): not what these tests check
    export WCB_SKIP_PHASES="preflight packages services health"
}

@test "the hosts block is appended once, keeps the operator's lines, and is replaced on an IP edit" {
    printf '192.0.2.7 printer\n' >>"$WCB_ROOT/etc/hosts"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    grep -qx '192.0.2.7 printer' "$WCB_ROOT/etc/hosts"
    grep -qxF '127.0.0.1   localhost localhost.localdomain' "$WCB_ROOT/etc/hosts"
    grep -qxP '127.10.0.22\twc-db2.acme.local wc-db2' "$WCB_ROOT/etc/hosts"
    [ "$(grep -c 'BEGIN wcbundle' "$WCB_ROOT/etc/hosts")" -eq 1 ]
    # the old file was backed up before the first change
    ls "$WCB_ROOT"/etc/hosts.wcbundle-bak.* >/dev/null
    # operator corrects an IP; the block is rewritten in place, nothing duplicated
    sed -i 's/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.23/' "$B/site/site.env"
    printf '10.9.9.9 after-block\n' >>"$WCB_ROOT/etc/hosts"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    [ "$(grep -c 'BEGIN wcbundle' "$WCB_ROOT/etc/hosts")" -eq 1 ]
    [ "$(grep -c 'END wcbundle' "$WCB_ROOT/etc/hosts")" -eq 1 ]
    grep -qxP '127.10.0.23\twc-db2.acme.local wc-db2' "$WCB_ROOT/etc/hosts"
    refute grep -q '127.10.0.22' "$WCB_ROOT/etc/hosts"
    grep -qx '10.9.9.9 after-block' "$WCB_ROOT/etc/hosts"
    grep -qx '192.0.2.7 printer' "$WCB_ROOT/etc/hosts"
}

@test "firewall backend none prints the exact firewall-cmd argv for a db node" {
    run "$B/install.sh" --yes --node wc-db1 --role db-node
    [ "$status" -eq 0 ]
    got="$(grep '^    firewall: firewall-cmd' <<<"$output" | sed 's/^    firewall: //')"
    want="firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.11/32\" port port=\"3306\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.12/32\" port port=\"3306\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.22/32\" port port=\"4567\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.31/32\" port port=\"4567\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.22/32\" port port=\"4568\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.22/32\" port port=\"4444\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.22/32\" port port=\"3306\" protocol=\"tcp\" accept'
firewall-cmd --permanent '--add-rich-rule=rule family=\"ipv4\" source address=\"127.10.0.31/32\" port port=\"3306\" protocol=\"tcp\" accept'
firewall-cmd --reload"
    [ "$got" = "$want" ]
}

@test "public ports open zone-wide; admin ports only to WCB_ADMIN_NETWORKS; no self rule" {
    run "$B/install.sh" --yes --node wc-app1
    [ "$status" -eq 0 ]
    [[ "$output" == *"firewall-cmd --permanent --add-port=8080/tcp"* ]]
    [[ "$output" == *"firewall-cmd --permanent --add-port=8081/tcp"* ]]
    [[ "$output" == *'source address="127.10.9.0/24" port port="15672"'* ]]
    [[ "$output" == *'source address="127.10.9.0/24" port port="8090"'* ]]
    [[ "$output" == *'port port="35672-35682"'* ]]
    [[ "$output" != *"--add-port=15672"* ]]
    [[ "$output" != *'127.10.0.11/32'* ]]
    # empty admin networks: admin ports open zone-wide
    sed -i 's/^WCB_ADMIN_NETWORKS=.*/WCB_ADMIN_NETWORKS=""/' "$B/site/site.env"
    run "$B/install.sh" --yes --node wc-app1
    [[ "$output" == *"firewall-cmd --permanent --add-port=15672/tcp"* ]]
}

@test "firewalld backend adds each missing rule once, reloads, and adds nothing on a re-run" {
    export WCB_FIREWALL_BACKEND=firewalld FW_CALLS="$BATS_TEST_TMPDIR/fw.calls" FW_STATE="$BATS_TEST_TMPDIR/fw.state"
    PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --yes --node wc-arb
    [ "$status" -eq 0 ]
    [ "$(grep -c -- '^--permanent --add-rich-rule' "$FW_CALLS")" -eq 2 ]
    grep -qx -- '--permanent --add-rich-rule=rule family="ipv4" source address="127.10.0.21/32" port port="4567" protocol="tcp" accept' "$FW_CALLS"
    [ "$(grep -c -- '^--reload' "$FW_CALLS")" -eq 1 ]
    : >"$FW_CALLS"
    PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --yes --node wc-arb
    [ "$status" -eq 0 ]
    refute grep -q -- '--add-' "$FW_CALLS"
    refute grep -q -- '--reload' "$FW_CALLS"
    [[ "$output" == *"Nothing changed"* ]]
}

@test "SELinux enforcing: semanage -a labels the Galera ports, -m when already defined (4444)" {
    export SELINUX_MODE=Enforcing SEMANAGE_CALLS="$BATS_TEST_TMPDIR/se.calls" SEMANAGE_STATE="$BATS_TEST_TMPDIR/se.state"
    printf '4444 kerberos_port_t\n' >"$SEMANAGE_STATE"
    PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    grep -qx 'port -a -t mysqld_port_t -p tcp 4567' "$SEMANAGE_CALLS"
    grep -qx 'port -a -t mysqld_port_t -p tcp 4444' "$SEMANAGE_CALLS"
    grep -qx 'port -m -t mysqld_port_t -p tcp 4444' "$SEMANAGE_CALLS"
    grep -qx '4444 mysqld_port_t' "$SEMANAGE_STATE"
    : >"$SEMANAGE_CALLS"
    PATH="$FIXTURES/stubs:$PATH" run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    refute grep -q -- '-a\|-m' "$SEMANAGE_CALLS"
}

@test "SELinux enforcing without semanage is an install failure that names the package" {
    export SELINUX_MODE=Enforcing
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -s "$FIXTURES/stubs/getenforce" "$BATS_TEST_TMPDIR/bin/getenforce"
    PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 4 ]
    [[ "$output" == *"policycoreutils-python"* ]]
}

@test "an unexpected failure inside a phase is an install failure (exit 4) naming the command" {
    rm -rf "$WCB_ROOT/etc/my.cnf.d"
    touch "$WCB_ROOT/etc/my.cnf.d"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 4 ]
    [[ "$output" == *"Error: unexpected failure (status 1) in common.sh:"*"mkdir "* ]]
    [[ "$output" != *"Done:"* ]]
}

@test "a file the installer writes that is a directory is refused (exit 4), never replaced" {
    rm "$WCB_ROOT/etc/hosts"
    mkdir "$WCB_ROOT/etc/hosts"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 4 ]
    [[ "$output" == *"refusing to write $WCB_ROOT/etc/hosts: it is a symlink or not a regular file"* ]]
    [ -d "$WCB_ROOT/etc/hosts" ]
}

@test "a hosts file without a final newline keeps its last line intact" {
    printf '127.0.0.1 localhost\n192.0.2.8 last-line-no-newline' >"$WCB_ROOT/etc/hosts"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    grep -qx '192.0.2.8 last-line-no-newline' "$WCB_ROOT/etc/hosts"
    grep -qx '# BEGIN wcbundle managed block: do not edit inside; ./install.sh rewrites it' "$WCB_ROOT/etc/hosts"
}

@test "an operator's own line for a site node outside the block is warned about" {
    printf '10.0.0.99 wc-db2.acme.local wc-db2\n' >>"$WCB_ROOT/etc/hosts"
    run "$B/install.sh" --yes --node wc-db1
    [ "$status" -eq 0 ]
    [[ "$output" == *"Warning: /etc/hosts line 3: 10.0.0.99 wc-db2.acme.local wc-db2 names a site node outside the managed block"* ]]
    run "$B/install.sh" --yes --node wc-db1
    [[ "$output" == *"line 3: 10.0.0.99"* ]]
}
