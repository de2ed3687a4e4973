"""Bundle signing (GPG detached signatures) and their verification with gpgv.

Owns what `--sign-key KEYID` and `--require-signature FPR` mean:

* `wcbundle build --sign-key KEYID` (pack.py) calls `export_public_key()` to put
  the signer's public key into the bundle as `keys/wcbundle-signer.gpg` (binary,
  so `gpgv --keyring` reads it as is), writes MANIFEST.sha256, then calls
  `sign_file()` on it (-> `MANIFEST.sha256.asc` inside the bundle) and on the
  tar's sidecar (-> `<top>.tar.sha256.asc` beside the tar). It prints the full
  fingerprint (`fingerprint_of()`).
* `verify_signature()` runs `gpgv --status-fd` and trusts only its VALIDSIG
  line; it returns the signer's primary-key fingerprint.

The key shipped inside the bundle proves nothing by itself: anyone who can
change the bundle can re-sign it with a key of their own and ship that. Trust
comes from the fingerprint, handed over out of band:

1. The builder prints "Signed by <40-hex fingerprint>" at the end of the build
   (also in bundle.env as WCB_SIGNER_FPR and in report.html).
2. That fingerprint travels by another channel than the USB stick: read aloud
   over the phone, printed on the change ticket, or sent by e-mail/chat to the
   person at the target. Compare all 40 characters, not a short key id.
3. On the target: `./install.sh --require-signature <FPR>` (and on any machine
   with the builder: `wcbundle verify BUNDLE --require-signature <FPR>`). An
   unsigned bundle, a bad signature or another signer is refused (exit 7 in
   wcbundle, exit 2 in install.sh) before anything is installed.
4. install.sh is itself part of what is being checked. Where that matters,
   check with the target's own tools first (gnupg2 is in @core):
       gpgv --keyring ./keys/wcbundle-signer.gpg MANIFEST.sha256.asc MANIFEST.sha256
       sha256sum -c --strict --quiet MANIFEST.sha256
   gpgv prints "using ... key <FPR>": it must equal the fingerprint handed over.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from ..core.errors import InputError, SignatureError
from ..core.run import CommandFailed, run

SIGNER_KEY = "keys/wcbundle-signer.gpg"     # inside the bundle top, relative
SIG_SUFFIX = ".asc"


def normalize_fpr(fpr: str) -> str:
    """'ABCD 1234 ...' or '0xabcd...' -> 40 upper-case hex; refuses short key ids."""
    text = re.sub(r"\s+", "", str(fpr or ""))
    if text.lower().startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}", text):
        raise InputError(f"'{fpr}' is not a full key fingerprint.",
                         hint="Give all 40 hex characters of the fingerprint printed by the build "
                              "(spaces allowed); short key ids can be forged.")
    return text.upper()


def _gpg_env(gnupghome: Path | None) -> dict[str, str] | None:
    return {"GNUPGHOME": str(gnupghome)} if gnupghome else None


def sign_file(path: Path, keyid: str, gnupghome: Path | None = None) -> Path:
    """Write an armored detached signature `path.asc` made with `keyid`; return its path."""
    path = Path(path)
    sig = path.with_name(path.name + SIG_SUFFIX)
    argv = ["gpg", "--batch", "--yes", "--local-user", keyid, "--armor", "--detach-sign",
            "--output", str(sig), str(path)]
    try:
        run(argv, env=_gpg_env(gnupghome))
    except CommandFailed as exc:
        if sig.exists():
            sig.unlink()
        raise SignatureError(f"signing {path.name} with key '{keyid}' failed: {exc.stderr.strip()[-400:]}",
                             hint="Check that `gpg --list-secret-keys` shows that key (set GNUPGHOME if it "
                                  "lives elsewhere) and that its passphrase can be entered.") from exc
    return sig


def fingerprint_of(keyid: str, gnupghome: Path | None = None, secret: bool = True) -> str:
    """The primary-key fingerprint of `keyid` in the (secret) keyring."""
    argv = ["gpg", "--batch", "--with-colons", "--fingerprint",
            "--list-secret-keys" if secret else "--list-keys", keyid]
    try:
        out = run(argv, env=_gpg_env(gnupghome)).stdout
    except CommandFailed as exc:
        raise SignatureError(f"no {'secret ' if secret else ''}key '{keyid}' in the GnuPG keyring.",
                             hint="List them with `gpg --list-secret-keys`; set GNUPGHOME if the key "
                                  "lives in another home.") from exc
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("pub:", "sec:")):
            for nxt in lines[i + 1:]:
                if nxt.startswith("fpr:"):
                    return nxt.split(":")[9].upper()
    raise SignatureError(f"gpg listed no fingerprint for key '{keyid}'.",
                         hint="Check the key with `gpg --list-secret-keys --fingerprint`.")


def export_public_key(keyid: str, dest: Path, gnupghome: Path | None = None) -> str:
    """Write `keyid`'s public key (binary, gpgv-readable) to dest; return its fingerprint."""
    fpr = fingerprint_of(keyid, gnupghome)
    try:
        res = run(["gpg", "--batch", "--yes", "--export", "--export-options", "export-minimal",
                   "--output", str(dest), fpr], env=_gpg_env(gnupghome))
    except CommandFailed as exc:
        raise SignatureError(f"exporting the public key of '{keyid}' failed: {exc.stderr.strip()[-300:]}") from exc
    if not Path(dest).is_file() or Path(dest).stat().st_size == 0:
        raise SignatureError(f"gpg exported nothing for key '{keyid}' ({res.stderr.strip()[-200:]}).")
    return fpr


def verify_signature(path: Path, sig: Path, keyring: Path, require_fpr: str | None = None) -> str:
    """Check `sig` over `path` with gpgv against `keyring`; return the signer's fingerprint.

    Raises SignatureError when the signature is bad, made by a key not in the
    keyring, or (with require_fpr) made by any other key than that fingerprint.
    """
    want = normalize_fpr(require_fpr) if require_fpr else None
    keyring = Path(keyring).resolve()   # gpgv looks up a bare name in its home, not the cwd
    with tempfile.TemporaryDirectory(prefix="wcb-gpgv-") as home:
        res = run(["gpgv", "--homedir", home, "--status-fd", "1", "--keyring", str(keyring),
                   str(sig), str(path)], check=False)
    status = [line.split()[1:] for line in res.stdout.splitlines() if line.startswith("[GNUPG:] ")]
    valid = [f for f in status if f and f[0] == "VALIDSIG"]
    where = f"{Path(sig).name} over {Path(path).name}"
    if res.returncode != 0 or not valid:
        kinds = {f[0] for f in status if f}
        if "BADSIG" in kinds:
            why = "the signature is BAD: the signed file was changed after signing"
        elif "NO_PUBKEY" in kinds or "ERRSIG" in kinds:
            why = "it was made by a key that is not in the keyring"
        elif "NODATA" in kinds:
            why = "the signature file holds no OpenPGP signature"
        else:
            why = "gpgv did not report a valid signature"
        detail = (res.stderr or "").strip().splitlines()[-3:]
        raise SignatureError(f"signature check of {where} failed: {why} (keyring {keyring}). "
                             + " ".join(detail),
                             hint="Do not use this bundle; get it again from the builder and compare "
                                  "the signer fingerprint over a separate channel.")
    fields = valid[0]
    signer = (fields[10] if len(fields) > 10 else fields[1]).upper()
    if want and want not in (signer, fields[1].upper()):
        raise SignatureError(f"{where} is signed by {signer}, not by the required {want}.",
                             hint="Someone else signed this bundle. Do not use it unless the builder "
                                  "confirms this fingerprint over a separate channel.")
    return signer
