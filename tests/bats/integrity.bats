#!/usr/bin/env bats
# Phase 1: a damaged bundle is refused with exit 2 before anything outside the bundle is written.

load helpers

setup() {
    make_bundle
    make_root
    BEFORE="$(snapshot "$WCB_ROOT")"
}

# usage: assert_refused   the last run exited 2 and the fake root is exactly as before
assert_refused() {
    [ "$status" -eq 2 ]
    [[ "$output" == *"Error: bundle integrity:"* ]]
    [ "$(snapshot "$WCB_ROOT")" = "$BEFORE" ]
}

@test "--check passes on an intact bundle" {
    run "$B/install.sh" --check
    [ "$status" -eq 0 ]
    [[ "$output" == *"[verify] ok: "*" files = "*" listed in MANIFEST.sha256 (all match) + MANIFEST.sha256; signer: unsigned"* ]]
}

@test "a flipped byte in a library is refused (exit 2) by an install run, root untouched" {
    printf '\x01' | dd of="$B/lib/system.sh" bs=1 seek=100 conv=notrunc status=none
    run "$B/install.sh" --yes --node wc-db1
    assert_refused
    [[ "$output" == *"lib/system.sh"* ]]
}

@test "a truncated file is refused" {
    truncate -s 10 "$B/site/WorkCenter.jar"
    run "$B/install.sh" --yes --node wc-app1
    assert_refused
    [[ "$output" == *"site/WorkCenter.jar"* ]]
}

@test "an extra file is refused" {
    printf 'evil\n' >"$B/roles/extra.sh"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"not listed in MANIFEST.sha256: roles/extra.sh"* ]]
}

@test "a symlink in the tree is refused" {
    ln -s /etc/shadow "$B/site/link"
    run "$B/install.sh" --yes --node wc-db1
    assert_refused
    [[ "$output" == *"symlinks"* ]]
}

@test "a FIFO in the tree is refused" {
    mkfifo "$B/repo/fifo"
    run "$B/install.sh" --check
    assert_refused
}

@test "a missing listed file is refused" {
    rm "$B/templates/garb"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"templates/garb"* ]]
}

@test "a missing MANIFEST.sha256 is refused" {
    rm "$B/MANIFEST.sha256"
    run "$B/install.sh" --yes --node wc-db1
    assert_refused
    [[ "$output" == *"MANIFEST.sha256 is missing"* ]]
}

@test "a manifest path with .. is refused" {
    printf '%064d  ../outside\n' 0 >>"$B/MANIFEST.sha256"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"'..'"* ]]
}

@test "an absolute manifest path is refused" {
    printf '%064d  /etc/passwd\n' 0 >>"$B/MANIFEST.sha256"
    run "$B/install.sh" --check
    assert_refused
}

@test "a malformed manifest line is refused" {
    printf 'hello world\n' >>"$B/MANIFEST.sha256"
    run "$B/install.sh" --check
    assert_refused
}

@test "bytes appended to install.sh are refused" {
    printf '\n# appended\n' >>"$B/install.sh"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"install.sh"* ]]
}

@test "an operator edit of site/site.env is reported (keys differing from the signed copy) and re-validated, not fatal" {
    sed -i 's/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.23/' "$B/site/site.env"
    run "$B/install.sh" --check
    [ "$status" -eq 0 ]
    [[ "$output" == *"site/site.env was edited on this host; keys that differ from the signed copy: WCB_NODE_4_IP"$'\n'* ]]
    [[ "$output" == *"[site] ok: acme"* ]]
}

@test "an invalid site.env edit fails validation with exit 3 and names the key" {
    sed -i 's/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.300/' "$B/site/site.env"
    run "$B/install.sh" --check
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_NODE_4_IP: '127.10.0.300': it must be an IPv4 address"* ]]
}

@test "site.env and secrets.env may be added on the target when the bundle had no site" {
    mv "$B/site/site.env" "$B/site/secrets.env" "$BATS_TEST_TMPDIR/"
    make_manifest "$B"
    run "$B/install.sh" --dry-run --node wc-db1
    [ "$status" -eq 3 ]
    [[ "$output" == *"no site/site.env"*"place a site.env"* ]]
    mv "$BATS_TEST_TMPDIR/site.env" "$BATS_TEST_TMPDIR/secrets.env" "$B/site/"
    run "$B/install.sh" --check-site
    [ "$status" -eq 0 ]
}

# usage: sign_bundle   make a test key, ship its public key in keys/, sign MANIFEST.sha256
sign_bundle() {
    export GNUPGHOME="$BATS_TEST_TMPDIR/gnupg"
    mkdir -m 700 -p "$GNUPGHOME"
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-gen-key 'wcbundle test signer <signer@example.invalid>' ed25519 sign never
    FPR="$(gpg --batch --with-colons --list-keys signer@example.invalid | awk -F: '$1 == "fpr" { print $10; exit }')"
    gpg --batch --export signer@example.invalid >"$B/keys/wcbundle-signer.gpg"
    make_manifest "$B"
    gpg --batch --yes -a --detach-sign -o "$B/MANIFEST.sha256.asc" "$B/MANIFEST.sha256"
}

@test "a signed bundle prints its signer fingerprint; --require-signature accepts that signer" {
    sign_bundle
    run "$B/install.sh" --check --require-signature "$FPR"
    [ "$status" -eq 0 ]
    [[ "$output" == *"signer: $FPR"* ]]
}

@test "--require-signature refuses another signer" {
    sign_bundle
    run "$B/install.sh" --check --require-signature 0123456789ABCDEF0123456789ABCDEF01234567
    assert_refused
    [[ "$output" == *"not by the required"* ]]
}

@test "--require-signature refuses an unsigned bundle" {
    run "$B/install.sh" --check --require-signature 0123456789ABCDEF0123456789ABCDEF01234567
    assert_refused
    [[ "$output" == *"unsigned bundle"* ]]
}

@test "a manifest changed after signing is a BAD signature (exit 2)" {
    sign_bundle
    printf '# x\n' >>"$B/templates/garb"
    make_manifest "$B"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"BAD signature"* ]]
}

@test "a bundle.env saying signed without MANIFEST.sha256.asc is refused" {
    sed -i 's/^WCB_SIGNED=0/WCB_SIGNED=1/' "$B/bundle.env"
    make_manifest "$B"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"MANIFEST.sha256.asc is missing"* ]]
}

@test "site validation: duplicate IPs, a node on the VIP, an even number of Galera voters, bad secrets" {
    sed -i 's/^WCB_NODE_2_IP=.*/WCB_NODE_2_IP=127.10.0.11/; s/^WCB_NODE_4_IP=.*/WCB_NODE_4_IP=127.10.0.100/; s/^WCB_NODE_5_ROLES=.*/WCB_NODE_5_ROLES="mq-node"/' "$B/site/site.env"
    sed -i 's/^WCB_ERLANG_COOKIE=.*/WCB_ERLANG_COOKIE=short/' "$B/site/secrets.env"
    make_manifest "$B"
    run "$B/install.sh" --check-site
    [ "$status" -eq 3 ]
    [[ "$output" == *"WCB_NODE_2_IP: 127.10.0.11 is used by two nodes"* ]]
    [[ "$output" == *"WCB_NODE_4_IP: 127.10.0.100 is also the VIP"* ]]
    [[ "$output" == *"Galera voters (db nodes + arbitrators) are 2"* ]]
    [[ "$output" == *"WCB_ERLANG_COOKIE (secrets.env): it must be 20-255 upper-case letters A-Z"* ]]
    [[ "$output" != *"short"* ]]
}

@test "--keyring adds a signer key that is not shipped in keys/" {
    sign_bundle
    mv "$B/keys/wcbundle-signer.gpg" "$BATS_TEST_TMPDIR/signer.gpg"
    make_manifest "$B"
    gpg --batch --yes -a --detach-sign -o "$B/MANIFEST.sha256.asc" "$B/MANIFEST.sha256"
    run "$B/install.sh" --check --require-signature "$FPR"
    assert_refused
    [[ "$output" == *"could not be verified"* ]]
    run "$B/install.sh" --check --require-signature "$FPR" --keyring "$BATS_TEST_TMPDIR/signer.gpg"
    [ "$status" -eq 0 ]
    [[ "$output" == *"signer: $FPR"* ]]
}

@test "the verify phase cannot be skipped through WCB_SKIP_PHASES" {
    printf 'x' >>"$B/lib/render.sh"
    WCB_SKIP_PHASES="verify preflight" run "$B/install.sh" --yes --node wc-db1
    assert_refused
}

@test "a secrets.env readable by others is warned about, with the chmod that fixes it" {
    chmod 0644 "$B/site/secrets.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 0 ]
    [[ "$output" == *"Warning: site/secrets.env is mode 644"*"chmod 0600"* ]]
    chmod 0600 "$B/site/secrets.env"
    run "$B/install.sh" --check-site
    [ "$status" -eq 0 ]
    [[ "$output" != *"Warning: site/secrets.env"* ]]
}

@test "--require-signature takes the full fingerprint in any case, with spaces" {
    sign_bundle
    spaced="$(sed 's/..../& /g' <<<"${FPR,,}")"
    run "$B/install.sh" --check --require-signature "$spaced"
    [ "$status" -eq 0 ]
    [[ "$output" == *"signer: $FPR"* ]]
    run "$B/install.sh" --check "--require-signature=${FPR,,}"
    [ "$status" -eq 0 ]
}

@test "--require-signature refuses a short or partial fingerprint as a usage error (exit 1), even a suffix of the signer's" {
    sign_bundle
    for bad in "${FPR: -16}" "${FPR: -39}" "${FPR:0:39}" "${FPR}0" "${FPR:0:39}G" "0x$FPR" "${FPR}${FPR:0:20}"; do
        run "$B/install.sh" --check --require-signature "$bad"
        [ "$status" -eq 1 ] || { echo "accepted: $bad"; return 1; }
        [[ "$output" == *"--require-signature needs the signer key's full fingerprint (40 hex digits, or 64 for a v5 key"* ]]
        [[ "$output" != *"[verify]"* ]]
    done
}

@test "--require-signature accepts the 64-digit form of a v5 fingerprint (and refuses another signer)" {
    sign_bundle
    run "$B/install.sh" --check --require-signature "$(printf '%064d' 7)"
    assert_refused
    [[ "$output" == *"signed by $FPR, not by the required $(printf '%064d' 7)"* ]]
}

@test "a library changed after the build is refused before it runs (exit 2), in every mode" {
    printf '\ntouch %q\n' "$BATS_TEST_TMPDIR/ran" >>"$B/lib/common.sh"
    for mode in --check --status --info --help; do
        run "$B/install.sh" "$mode"
        assert_refused
        [[ "$output" == *"lib/common.sh does not match MANIFEST.sha256 (sha256 $(sha256sum <"$B/lib/common.sh" | cut -c 1-64), listed $(grep '  lib/common.sh$' "$B/MANIFEST.sha256" | cut -c 1-64)): refusing to run it"* ]]
        [ ! -e "$BATS_TEST_TMPDIR/ran" ]
    done
}

@test "a library replaced by a symlink (even to an identical copy) is refused before it runs" {
    cp "$B/lib/verify.sh" "$BATS_TEST_TMPDIR/verify.sh"
    ln -sf "$BATS_TEST_TMPDIR/verify.sh" "$B/lib/verify.sh"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"lib/verify.sh is missing, or a symlink"* ]]
}

@test "--status (no verify phase) still refuses a changed role or service file before sourcing it" {
    printf '\ntouch %q\n' "$BATS_TEST_TMPDIR/ran" >>"$B/roles/mq-node.sh"
    run "$B/install.sh" --status --node wc-app1
    assert_refused
    [[ "$output" == *"roles/mq-node.sh does not match MANIFEST.sha256"* ]]
    make_manifest "$B"
    printf '\ntouch %q\n' "$BATS_TEST_TMPDIR/ran" >>"$B/lib/service.sh"
    run "$B/install.sh" --status --node wc-app1
    assert_refused
    [[ "$output" == *"lib/service.sh does not match MANIFEST.sha256"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "a library listed twice in MANIFEST.sha256 is refused before it runs" {
    line="$(grep '  lib/env.sh$' "$B/MANIFEST.sha256")"
    printf '%s\n' "$line" >>"$B/MANIFEST.sha256"
    run "$B/install.sh" --check
    assert_refused
    [[ "$output" == *"lib/env.sh does not match MANIFEST.sha256 (not listed once)"* ]]
}
