#!/usr/bin/env bash
# verify.sh: phase 1, bundle integrity (MANIFEST.sha256, tree shape, signature) before the system is touched.
set -euo pipefail

WCB_SITE_EDITED=0
WCB_SITE_EDITED_KEYS=""
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
        # (bundle.env's WCB_SIGNED is compared once bundle.env itself is verified: wcb_bundle_env_load)
        if [[ -n "${WCB_REQUIRE_SIGNATURE:-}" ]]; then
            wcb_verify_fail "unsigned bundle (no MANIFEST.sha256.asc) but --require-signature $WCB_REQUIRE_SIGNATURE was given"
        fi
        WCB_SIGNER_FOUND="unsigned"
        return 0
    fi
    wcb_has gpgv || wcb_verify_fail "MANIFEST.sha256.asc is present but gpgv is not installed (install gnupg2)"
    wcb_tmpfile ring
    shopt -s nullglob
    keys=("$b"/keys/*)
    shopt -u nullglob
    if [[ -n "${WCB_KEYRING:-}" ]]; then
        keys+=("$WCB_KEYRING")
    fi
    wcb_dearmor_keys "$ring" ${keys[@]+"${keys[@]}"}
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

# usage: wcb_bundle_env_load BUNDLE   read bundle.env (already verified) through the allowlist; exit 2 on any problem
wcb_bundle_env_load() {
    wcb_env_read "$1/bundle.env" bundle.env || wcb_die 2 "bundle integrity: $WCB_ENV_ERROR"
    wcb_env_import
}

# Both files are read through the allowlist (a refused key exits). Runs in the main shell.
# usage: wcb_site_env_diff BUNDLE   set WCB_SITE_EDITED_KEYS: the keys site/site.env and site/site.env.signed differ in
wcb_site_env_diff() {
    local b="$1" key out=""
    local -A cur=()
    local -a cur_keys=()
    wcb_env_read "$b/site/site.env" site.env ||
        wcb_die "$(wcb_refusal_code)" "site/site.env is refused: ${WCB_ENV_ERROR#site.env: }. Restore the line from site/site.env.signed (the signed copy)"
    for key in ${WCB_ENV_KEYS[@]+"${WCB_ENV_KEYS[@]}"}; do
        cur[$key]="${WCB_ENV[$key]}"
        cur_keys+=("$key")
    done
    if [[ ! -f "$b/site/site.env.signed" ]]; then
        WCB_SITE_EDITED_KEYS="${cur_keys[*]:-}"
        return 0
    fi
    wcb_env_read "$b/site/site.env.signed" site.env || wcb_verify_fail "site/site.env.signed: $WCB_ENV_ERROR"
    for key in ${cur_keys[@]+"${cur_keys[@]}"}; do
        if [[ -z "${WCB_ENV[$key]+set}" || "${WCB_ENV[$key]}" != "${cur[$key]}" ]]; then
            out+="${out:+ }$key"
        fi
    done
    for key in ${WCB_ENV_KEYS[@]+"${WCB_ENV_KEYS[@]}"}; do
        [[ -n "${cur[$key]+set}" ]] || out+="${out:+ }$key(removed)"
    done
    WCB_SITE_EDITED_KEYS="$out"
}

# When site/site.env differs from its MANIFEST.sha256 line (or the bundle had none), name the edited keys;
# under --require-signature refuse the edit (exit 2) unless --accept-site-edits. Every value is then checked
# against the site schema (wcb_site_validate).
# usage: wcb_verify_site_env BUNDLE   check the operator's site/site.env against the signed copy
wcb_verify_site_env() {
    local b="$1" m="$1/MANIFEST.sha256" edited line
    [[ -f "$b/site/site.env" ]] || return 0
    line="$(grep -E '^[0-9a-f]{64} [ *]site/site\.env$' "$m" || true)"
    if [[ -n "$line" ]] && (cd "$b" && sha256sum -c --strict --status - <<<"$line") 2>/dev/null; then
        return 0
    fi
    WCB_SITE_EDITED=1
    wcb_site_env_diff "$b"
    edited="$WCB_SITE_EDITED_KEYS"
    if [[ -n "$line" ]]; then
        wcb_say "    site/site.env was edited on this host; keys that differ from the signed copy: ${edited:-none (comments only)}"
    else
        wcb_say "    site/site.env was added on this host (the bundle carried none); keys: ${edited:-none}"
    fi
    if [[ -n "${WCB_REQUIRE_SIGNATURE:-}" ]]; then
        if [[ "${WCB_ACCEPT_SITE_EDITS:-0}" != 1 ]]; then
            wcb_verify_fail "site/site.env is not the signed copy (keys: ${edited:-comments only}) and --require-signature was given: check the edit, then run again with --accept-site-edits to accept it (each value is still checked against the site schema), or restore site/site.env from site/site.env.signed"
        fi
        wcb_say "    --accept-site-edits: the edited keys are accepted if they pass the site schema"
    fi
}

# Root reads the bundle's files by name again after they are verified (templates, the jar, the repo key
# dnf trusts when it runs): a bundle another user can change is a bundle that user can swap afterwards.
# So the bundle, each of its directories up to /, and every entry in it must belong to root (or, under
# the WCB_ROOT test seam, to the uid running the tests) and be writable by no group or other user; a
# parent with the sticky bit (/tmp) may be world-writable, as no one else can rename what root owns in it.
# usage: wcb_verify_owner BUNDLE   exit 2 unless no other user can change BUNDLE
wcb_verify_owner() {
    local b="$1" d uid mode owner_ok="-uid 0" me hint
    me="$(id -u)"
    [[ -n "${WCB_ROOT:-}" && "$me" != 0 ]] && owner_ok="( -uid 0 -o -uid $me )"
    hint="Extract the bundle as root into a root-owned directory that only root can write (for example: sudo mkdir -m 0700 /root/wcb && sudo tar -xf BUNDLE.tar -C /root/wcb), then run install.sh from there"
    d="$b"
    while :; do
        read -r uid mode < <(stat -c '%u %a' -- "$d") || wcb_verify_fail "cannot stat $d. $hint"
        if [[ "$uid" != 0 && ! ( -n "${WCB_ROOT:-}" && "$uid" == "$me" ) ]]; then
            wcb_verify_fail "$d is owned by $(stat -c %U -- "$d") (uid $uid), not root: that user could change the bundle after it is verified. $hint"
        fi
        # group/world-writable: only a parent with the sticky bit (/tmp) is allowed, never the bundle itself
        if (( (8#$mode & 8#022) != 0 )) && { [[ "$d" == "$b" ]] || (( (8#$mode & 8#1000) == 0 )); }; then
            wcb_verify_fail "$d is writable by its group or by other users (mode $mode): they could change the bundle after it is verified. $hint"
        fi
        [[ "$d" == / ]] && break
        d="$(dirname -- "$d")"
    done
    # one find over the tree: the first entry that is not root's (or is group/world-writable), if any
    # shellcheck disable=SC2086  # owner_ok is find's words
    d="$(find "$b" -mindepth 1 \( ! $owner_ok -o \( ! -type l -perm /022 \) \) -printf '%p (owner %u, mode %m)\n' -quit 2>/dev/null)" ||
        wcb_verify_fail "cannot list the bundle's files. $hint"
    [[ -z "$d" ]] || wcb_verify_fail "$d: every file of the bundle must be root's and writable by root alone, or another user could change it after it is verified. $hint"
}

# usage: wcb_verify BUNDLE   phase 1: exit 2 on any integrity problem; sets WCB_SITE_EDITED
wcb_verify() {
    local b="$1" m="$1/MANIFEST.sha256" out bad=() listed extra
    wcb_has sha256sum || wcb_verify_fail "sha256sum is missing (coreutils); cannot check the bundle"
    # 0. no other user can change what is verified now and read again later
    wcb_verify_owner "$b"
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
    # 5. every listed file's checksum; site/site.env may differ (operator edit, checked below)
    out="$(cd "$b" && grep -v -E '^[0-9a-f]{64} [ *]site/site\.env$' MANIFEST.sha256 | sha256sum -c --strict - 2>&1)" || {
        mapfile -t bad < <(grep -v ': OK$' <<<"$out" | head -n 5)
        wcb_verify_fail "checksum mismatch or unreadable file: ${bad[*]+${bad[*]}}"
    }
    if grep -q -E '^[0-9a-f]{64} [ *]site/site\.env$' "$m" && [[ ! -f "$b/site/site.env" ]]; then
        wcb_verify_fail "site/site.env is listed in MANIFEST.sha256 but missing"
    fi
    # 6. bundle.env, read only now that it is verified; its claim to be signed must hold
    wcb_bundle_env_load "$b"
    if [[ "${WCB_SIGNED:-0}" == 1 && ! -f "$b/MANIFEST.sha256.asc" ]]; then
        wcb_verify_fail "bundle.env says the bundle was signed but MANIFEST.sha256.asc is missing"
    fi
    # 7. the operator's site.env against the signed copy
    wcb_verify_site_env "$b"
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
