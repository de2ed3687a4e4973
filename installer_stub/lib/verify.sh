#!/usr/bin/env bash
# verify.sh: phase 1, bundle integrity (MANIFEST.sha256, tree shape, signature) before the system is touched.
set -euo pipefail

WCB_SITE_EDITED=0
WCB_SIGNER_FOUND=""

# usage: wcb_verify_fail MESSAGE...   integrity failure: exit 2
wcb_verify_fail() {
    wcb_die 2 "bundle integrity: $*"
}

# usage: wcb_manifest_paths MANIFEST   print the listed paths (validated format), one per line
wcb_manifest_paths() {
    local line n=0 path
    local re='^[0-9a-f]{64} [ *](.+)$'
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        [[ "$line" =~ $re ]] || wcb_verify_fail "MANIFEST.sha256 line $n is not '<sha256>  <path>'"
        path="${BASH_REMATCH[1]}"
        case "/$path/" in
            //* | */../* | */./* | *//*) wcb_verify_fail "MANIFEST.sha256 line $n: path '$path' is absolute or holds '.', '..' or '//'" ;;
        esac
        [[ "$path" == *\\* ]] && wcb_verify_fail "MANIFEST.sha256 line $n: path holds a backslash"
        printf '%s\n' "$path"
    done <"$1"
}

# usage: wcb_dearmor_keys OUT KEYFILE...   write an OpenPGP binary keyring for gpgv from armored key files
wcb_dearmor_keys() {
    local out="$1" f
    shift
    : >"$out"
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        if grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$f"; then
            # armor body: after the first blank line, up to the "=CRC" line; gpgv cannot read armor itself.
            awk '/^-----BEGIN PGP PUBLIC KEY BLOCK-----/{inb=1; body=0; next}
                 /^-----END PGP PUBLIC KEY BLOCK-----/{inb=0; next}
                 inb && !body && /^[[:space:]]*$/ {body=1; next}
                 inb && body && /^=/ {body=2; next}
                 inb && body==1 {print}' "$f" | base64 -d >>"$out" 2>/dev/null || true
        else
            cat "$f" >>"$out"
        fi
    done
}

# usage: wcb_fpr_normalize FPR   print FPR without spaces, upper case; fails unless it is a full fingerprint (40/64 hex)
wcb_fpr_normalize() {
    local f="${1//[[:space:]]/}"
    f="${f^^}"
    [[ "$f" =~ ^[0-9A-F]{40}$ || "$f" =~ ^[0-9A-F]{64}$ ]] || return 1
    printf '%s\n' "$f"
}

# usage: wcb_verify_signature BUNDLE   check MANIFEST.sha256.asc with gpgv; honours WCB_REQUIRE_SIGNATURE
wcb_verify_signature() {
    local b="$1" asc="$1/MANIFEST.sha256.asc" ring status fpr
    local -a keys=()
    if [[ ! -f "$asc" ]]; then
        if [[ "${WCB_SIGNED:-0}" == 1 ]]; then
            wcb_verify_fail "bundle.env says the bundle was signed but MANIFEST.sha256.asc is missing"
        fi
        if [[ -n "${WCB_REQUIRE_SIGNATURE:-}" ]]; then
            wcb_verify_fail "unsigned bundle (no MANIFEST.sha256.asc) but --require-signature $WCB_REQUIRE_SIGNATURE was given"
        fi
        WCB_SIGNER_FOUND="unsigned"
        return 0
    fi
    wcb_has gpgv || wcb_verify_fail "MANIFEST.sha256.asc is present but gpgv is not installed (install gnupg2)"
    ring="$(wcb_tmpfile)"
    shopt -s nullglob
    keys=("$b"/keys/*)
    shopt -u nullglob
    if [[ -n "${WCB_KEYRING:-}" ]]; then
        keys+=("$WCB_KEYRING")
    fi
    wcb_dearmor_keys "$ring" "${keys[@]}"
    status="$(gpgv --status-fd 1 --keyring "$ring" "$asc" "$b/MANIFEST.sha256" 2>/dev/null || true)"
    if grep -q '^\[GNUPG:\] BADSIG' <<<"$status"; then
        wcb_verify_fail "MANIFEST.sha256.asc: BAD signature (the manifest or its signature was altered)"
    fi
    fpr="$(awk '$1=="[GNUPG:]" && $2=="VALIDSIG" {print $NF; exit}' <<<"$status")"
    if [[ -z "$fpr" ]]; then
        if [[ -n "${WCB_REQUIRE_SIGNATURE:-}" ]]; then
            wcb_verify_fail "MANIFEST.sha256.asc could not be verified (signer key not in keys/ or --keyring)"
        fi
        wcb_warn "MANIFEST.sha256.asc present but its signer key is not available; the signature was not checked"
        WCB_SIGNER_FOUND="unverified"
        return 0
    fi
    if [[ -n "${WCB_REQUIRE_SIGNATURE:-}" ]]; then
        # the full fingerprint, exactly (install.sh refused anything shorter as a usage error)
        local want
        want="$(wcb_fpr_normalize "$WCB_REQUIRE_SIGNATURE")" ||
            wcb_verify_fail "--require-signature '$WCB_REQUIRE_SIGNATURE' is not a full fingerprint"
        if [[ "${fpr^^}" != "$want" ]]; then
            wcb_verify_fail "signed by $fpr, not by the required $want"
        fi
    fi
    WCB_SIGNER_FOUND="$fpr"
}

# bundle.json["site"] holds the node list and the VIP: node IPs/names and the VIP can be compared.
# usage: wcb_site_env_edited_keys BUNDLE   print the site.env keys whose values differ from bundle.json's site
wcb_site_env_edited_keys() {
    local b="$1" parsed key val i=0
    local -a ips=() names=()
    [[ -f "$b/bundle.json" ]] || return 0
    parsed="$(wcb_env_parse "$b/site/site.env" 2>/dev/null)" || return 0
    mapfile -t ips < <(tr -d '\n' <"$b/bundle.json" | sed -n 's/.*"site": *{//p' | grep -o '"ip": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
    mapfile -t names < <(tr -d '\n' <"$b/bundle.json" | sed -n 's/.*"nodes": *\[//p' | grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
    while IFS=$'\t' read -r key val; do
        if [[ "$key" =~ ^WCB_NODE_([0-9]+)_IP$ ]]; then
            i="${BASH_REMATCH[1]}"
            [[ -n "${ips[i - 1]:-}" && "${ips[i - 1]}" != "$val" ]] && printf '%s\n' "$key"
        elif [[ "$key" =~ ^WCB_NODE_([0-9]+)_NAME$ ]]; then
            i="${BASH_REMATCH[1]}"
            [[ -n "${names[i - 1]:-}" && "${names[i - 1]}" != "$val" ]] && printf '%s\n' "$key"
        elif [[ "$key" == WCB_VIP ]]; then
            grep -q "\"address\": *\"$val\"" "$b/bundle.json" || printf '%s\n' "$key"
        fi
    done <<<"$parsed"
    return 0
}

# usage: wcb_verify BUNDLE   phase 1: exit 2 on any integrity problem; sets WCB_SITE_EDITED
wcb_verify() {
    local b="$1" m="$1/MANIFEST.sha256" path out bad=() listed extra edited
    wcb_has sha256sum || wcb_verify_fail "sha256sum is missing (coreutils); cannot check the bundle"
    [[ -f "$m" && ! -L "$m" ]] || wcb_verify_fail "MANIFEST.sha256 is missing: this is not a complete bundle"
    # 1. the tree holds regular files and directories only
    out="$(cd "$b" && find . -mindepth 1 ! -type f ! -type d -print | head -n 5)"
    [[ -z "$out" ]] || wcb_verify_fail "the bundle holds symlinks, devices or FIFOs: $(tr '\n' ' ' <<<"$out")"
    # 2. every listed path is relative, without '..', listed once
    listed="$(wcb_manifest_paths "$m")"
    out="$(sort <<<"$listed" | uniq -d | head -n 3)"
    [[ -z "$out" ]] || wcb_verify_fail "MANIFEST.sha256 lists a path twice: $out"
    # 3. no unlisted files (site.env/secrets.env may be added on the target; the manifest and its signature)
    extra="$(cd "$b" && find . -type f -print | sed 's|^\./||' | sort | comm -23 - <(sort <<<"$listed") |
        grep -v -x -e 'MANIFEST.sha256' -e 'MANIFEST.sha256.asc' -e 'site/site.env' -e 'site/secrets.env' | head -n 5)" || true
    [[ -z "$extra" ]] || wcb_verify_fail "files not listed in MANIFEST.sha256: $(tr '\n' ' ' <<<"$extra")"
    # 4. the signature, when present (before trusting the manifest's content)
    wcb_verify_signature "$b"
    # 5. every listed file's checksum; site/site.env may differ (operator edit, re-validated below)
    out="$(cd "$b" && grep -v -E '^[0-9a-f]{64} [ *]site/site\.env$' MANIFEST.sha256 | sha256sum -c --strict - 2>&1)" || {
        mapfile -t bad < <(grep -v ': OK$' <<<"$out" | head -n 5)
        wcb_verify_fail "checksum mismatch or unreadable file: ${bad[*]}"
    }
    if grep -q -E '^[0-9a-f]{64} [ *]site/site\.env$' "$m"; then
        out="$(cd "$b" && grep -E '^[0-9a-f]{64} [ *]site/site\.env$' MANIFEST.sha256 | sha256sum -c --strict - 2>/dev/null)" || {
            [[ -f "$b/site/site.env" ]] || wcb_verify_fail "site/site.env is listed in MANIFEST.sha256 but missing"
            WCB_SITE_EDITED=1
            edited="$(wcb_site_env_edited_keys "$b" | tr '\n' ' ')"
            wcb_say "    site/site.env was edited on this host (keys: ${edited:-unknown}); re-validating it"
        }
    fi
    wcb_result verify "ok: $(wcb_files_counted "$b"); signer: $WCB_SIGNER_FOUND"
}

# What the verify phase counted, in the words of `wcbundle verify`: every file of the bundle = the ones
# listed in MANIFEST.sha256 + the manifest (+ its signature, + site files added on the target).
# usage: wcb_files_counted BUNDLE   print that count and what it is made of
wcb_files_counted() {
    local b="$1" listed files sig=0 added
    listed="$(grep -c . "$b/MANIFEST.sha256")"
    files="$(cd "$b" && find . -type f | wc -l)"
    [[ -f "$b/MANIFEST.sha256.asc" ]] && sig=1
    added=$((files - listed - 1 - sig))
    printf '%s files = %s listed in MANIFEST.sha256 (all match) + MANIFEST.sha256%s%s\n' "$files" "$listed" \
        "$([[ "$sig" == 1 ]] && printf ' + MANIFEST.sha256.asc')" \
        "$([[ "$added" -gt 0 ]] && printf ' + %s added on the target (site/)' "$added")"
}

# usage: wcb_site_edited   true when the verify phase found site/site.env edited on this host
wcb_site_edited() {
    [[ "$WCB_SITE_EDITED" == 1 ]]
}
