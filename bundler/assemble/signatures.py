"""RPM signature checks on the builder, against each repo's own keys only.

Owns: downloading the repos' GPG keys named in the lock (file:// or http(s)://)
into `keys/RPM-GPG-KEY-<repo>[-<n>]`, and checking every fetched RPM with
`rpmkeys --checksig` in an ISOLATED keyring: one throw-away rpm root per repo
(`rpmkeys --root <tmp> --dbpath /rpmdb --import KEY...`), so neither the
builder's own rpmdb nor another repo's key can vouch for a package. RPMs are
checked in batches, in parallel.

`rpmkeys --checksig` exits 0 for an unsigned package ("digests OK"), so the
verdict is read from its output: only "digests signatures OK" passes.
`--allow-unsigned REPO` waives the signature (never the digests) for that repo;
the CLI records it in bundle.json's build info and the report shows it.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..core.errors import FetchError, InputError, SignatureError
from ..core.neterrors import network_reason
from ..core.run import CommandFailed, run
from ..lock import Lock, Package, nevra_of
from ..resolve.manifest import pin_label, pin_matches

log = logging.getLogger("wcbundle")

BATCH = 200                     # RPMs per rpmkeys call (argv stays far below ARG_MAX)
KEY_TRIES = 3
KEY_TIMEOUT = (10.0, 30.0)
KEY_MAX_BYTES = 1 << 20   # an armored key file is a few KiB
ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


@dataclass
class RepoKeys:
    repo: str
    urls: list[str]
    files: list[Path] = field(default_factory=list)        # keys/RPM-GPG-KEY-<repo>[-n]
    key_ids: list[str] = field(default_factory=list)       # rpm's short ids, e.g. "edd410c0"
    fingerprints: list[str] = field(default_factory=list)  # the pinned fingerprint of each file
    names: list[str] = field(default_factory=list)         # "Name <email>" per key


@dataclass
class SignatureReport:
    """What was checked, for bundle.json's build info."""

    checked: int = 0
    signed_ok: int = 0
    unsigned_allowed: list[str] = field(default_factory=list)   # NEVRAs accepted without a signature
    allow_unsigned: list[str] = field(default_factory=list)     # repos named with --allow-unsigned
    keys: dict[str, list[str]] = field(default_factory=dict)    # repo -> key ids
    fingerprints: dict[str, list[str]] = field(default_factory=dict)  # repo -> pinned fingerprints used

    def to_dict(self) -> dict:
        return {"checked": self.checked, "signed_ok": self.signed_ok,
                "allow_unsigned": sorted(self.allow_unsigned),
                "unsigned_allowed": sorted(self.unsigned_allowed), "keys": self.keys,
                "fingerprints": self.fingerprints}


def key_filename(repo: str, index: int) -> str:
    return f"RPM-GPG-KEY-{repo}" + (f"-{index + 1}" if index else "")


def _read_key(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "file" or not parsed.scheme:
        path = unquote(parsed.path) if parsed.scheme else url
        try:
            return Path(path).read_text(encoding="ascii", errors="replace")
        except OSError as exc:
            raise FetchError(f"cannot read GPG key {url}: {exc.strerror}.",
                             hint="Fix the repo's gpgkey in the manifest or pass --gpgkey ID=URL.") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"unsupported GPG key URL {url}: only file://, http:// and https:// are read.")
    from ..core import http
    with http.Session("wcbundle-keys") as s:
        resp, outcomes = http.get(s, url, attempts=KEY_TRIES, timeout=KEY_TIMEOUT)
        if resp is not None:
            try:
                buf = io.BytesIO()
                http.copy_capped(resp, buf, KEY_MAX_BYTES)
                return buf.getvalue().decode("ascii", errors="replace")
            except http.TooLarge:
                outcomes.append(f"larger than {KEY_MAX_BYTES >> 10} KiB (not a key file)")
            except http.TRANSFER_ERRORS as exc:
                outcomes.append(network_reason(exc))
            finally:
                resp.close()
    raise FetchError(f"cannot download GPG key {url}: {', '.join(outcomes)}.",
                     hint="Check the URL, or pass the key with --gpgkey ID=file:///path/to/key.")


def fetch_keys(lock: Lock, dest: Path) -> dict[str, RepoKeys]:
    """Write the pinned keys of every repo that contributes packages into dest; repo -> RepoKeys.

    Only keys whose full fingerprint the lock pins for that repo (the manifest's `fingerprints`,
    or --key-fingerprint) are written and later imported; a key URL that serves no pinned key
    is a SignatureError naming the expected and the actual fingerprints.
    """
    used = sorted({p.repo for p in lock.packages})
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, RepoKeys] = {}
    for repo in used:
        entry = lock.repos.get(repo) or {}
        urls = list(entry.get("gpgkeys") or [])
        rk = RepoKeys(repo, [])
        for i, key in enumerate(pinned_keys(f"repo '{repo}'", urls, list(entry.get("fingerprints") or []))):
            path = dest / key_filename(repo, i)
            path.write_text(key.armored)
            rk.files.append(path)
            rk.urls.append(key.url)
            rk.fingerprints.append(key.fingerprint)
        out[repo] = rk
    return out


# -- key fingerprints: what a key file holds, and the pins -------------------------------

@dataclass
class PinnedKey:
    fingerprint: str      # 40 upper-case hex digits of the primary key
    uid: str
    url: str
    armored: str          # this key alone, as gpg exports it


def _gpg_home() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="wcbundle-gpg-")


def _listed_keys(home: str) -> list[tuple[str, str]]:
    """(primary fingerprint, first uid) of every key in a GnuPG home, from --with-colons."""
    res = run(["gpg", "--homedir", home, "--batch", "--no-autostart", "--with-colons", "--fixed-list-mode", "--list-keys"],
              check=False, timeout=60)
    keys: list[tuple[str, str]] = []
    fpr, uid, want_fpr = "", "", False
    for line in res.stdout.splitlines():
        f = line.split(":")
        if f[0] == "pub":
            if fpr:
                keys.append((fpr, uid))
            fpr, uid, want_fpr = "", "", True
        elif f[0] == "fpr" and want_fpr and len(f) > 9:
            fpr, want_fpr = f[9].upper(), False
        elif f[0] == "uid" and not uid and len(f) > 9:
            uid = f[9]
        elif f[0] == "sub":
            want_fpr = False
    if fpr:
        keys.append((fpr, uid))
    return keys


def key_fingerprints(text: str) -> list[tuple[str, str]]:
    """(fingerprint, uid) of every public key in an armored key file (one or several blocks)."""
    with _gpg_home() as home:
        _gpg_import(home, text)
        return _listed_keys(home)


def _gpg_import(home: str, text: str) -> None:
    for block in armored_blocks(text) or [text]:
        run(["gpg", "--homedir", home, "--batch", "--no-autostart", "--quiet", "--import"], input=block.encode(), check=False,
            timeout=60)


def pinned_keys(owner: str, urls: list[str], pins: list[str]) -> list[PinnedKey]:
    """The keys served at `urls` whose fingerprint is in `pins`, each exported on its own.

    Exit 7 (SignatureError), naming expected and actual fingerprints, when a URL serves no key
    at all, or no pinned key. Keys a URL serves besides the pinned ones are never used (a
    vendor file may carry older keys too); they are named in a warning.
    """
    pins = [p.upper() for p in pins]
    out: list[PinnedKey] = []
    for url in urls:
        text = _read_key(url)
        if ARMOR_BEGIN not in text:
            raise SignatureError(f"the GPG key of {owner} at {url} is not an armored OpenPGP public key (no '"
                                 + ARMOR_BEGIN + "' line).",
                                 hint="Point the gpgkey at the vendor's RPM-GPG-KEY file.")
        with _gpg_home() as home:
            _gpg_import(home, text)
            found = _listed_keys(home)
            if not found:
                raise SignatureError(f"GnuPG found no usable public key in {url} (the GPG key of {owner}).",
                                     hint="Point the gpgkey at the vendor's RPM-GPG-KEY file.")
            keep = [(f, u) for f, u in found if pin_matches(f, pins)]
            if not keep:
                actual = "; ".join(f"{f} ({u})" for f, u in found)
                expected = ", ".join(pin_label(p) for p in pins) if pins \
                    else "none (nothing is pinned)"
                raise SignatureError(
                    f"the GPG key of {owner} at {url} is not pinned: expected fingerprint {expected}; "
                    f"actual {actual}.",
                    hint="Compare the actual fingerprint with the vendor's published one (all 40 digits). If it "
                         "is the vendor's key, pin it: the manifest's `fingerprints` of that repo or direct RPM, "
                         "or --key-fingerprint ID=FPR for a --gpgkey override. Otherwise the key URL serves "
                         "the wrong key.")
            extra = [f for f, _ in found if not pin_matches(f, pins)]
            if extra:
                log.warning("%s: %s also holds key(s) %s, which are not pinned and not used", owner, url,
                            ", ".join(extra))
            for fpr, uid in keep:
                armored = run(["gpg", "--homedir", home, "--batch", "--no-autostart", "--armor", "--export", fpr], timeout=60).stdout
                out.append(PinnedKey(fpr, uid, url, armored if armored.endswith("\n") else armored + "\n"))
    return out


ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"


def armored_blocks(text: str) -> list[str]:
    """Each armored key block of a key file. Vendor files sometimes hold several; importing
    each on its own keeps the verdict independent of how an rpm version reads such files."""
    blocks, rest = [], text
    while ARMOR_BEGIN in rest:
        start = rest.index(ARMOR_BEGIN)
        end = rest.find(ARMOR_END, start)
        if end < 0:
            break
        blocks.append(rest[start:end + len(ARMOR_END)] + "\n")
        rest = rest[end + len(ARMOR_END):]
    return blocks


def _import(root: Path, rk: RepoKeys) -> None:
    for path, url in zip(rk.files, rk.urls):
        try:
            for i, block in enumerate(armored_blocks(path.read_text())):
                one = root / f"key-{path.name}-{i}.asc"
                one.write_text(block)
                run(["rpmkeys", "--root", root, "--dbpath", "/rpmdb", "--import", one])
        except CommandFailed as exc:
            raise SignatureError(f"rpm could not import the GPG key of repo '{rk.repo}' from {url}: "
                                 f"{exc.stderr.strip() or 'no reason given'}.",
                                 hint="Check that the URL serves the vendor's public key.") from None
    res = run(["rpm", "--root", root, "--dbpath", "/rpmdb", "-q", "gpg-pubkey",
               "--qf", "%{VERSION}\t%{SUMMARY}\n"], check=False)
    for line in res.stdout.splitlines():
        if "\t" in line:
            kid, summary = line.split("\t", 1)
            rk.key_ids.append(kid.lower())
            rk.names.append(summary.replace(" public key", "").removeprefix("gpg(").removesuffix(")"))


_LINE = re.compile(r"^(?P<path>.+): (?P<verdict>[A-Za-z ]+)$")


def _verdicts(root: Path, paths: list[Path]) -> dict[str, str]:
    """path -> rpmkeys' one-line verdict, e.g. 'digests signatures OK'."""
    out: dict[str, str] = {}
    for i in range(0, len(paths), BATCH):
        batch = [str(p) for p in paths[i:i + BATCH]]
        res = run(["rpmkeys", "--root", root, "--dbpath", "/rpmdb", "--checksig", *batch], check=False)
        for line in res.stdout.splitlines():
            m = _LINE.match(line)
            if m and m.group("path") in batch:
                out[m.group("path")] = m.group("verdict").strip()
        for p in batch:
            out.setdefault(p, f"not checked ({res.stderr.strip() or 'no output from rpmkeys'})")
    return out


def _detail(root: Path, path: Path) -> str:
    """The verbose reason for one failed package: which key id, NOKEY or BAD."""
    res = run(["rpmkeys", "--root", root, "--dbpath", "/rpmdb", "--checksig", "-v", path], check=False)
    lines = [ln.strip() for ln in res.stdout.splitlines()[1:] if not ln.rstrip().endswith(": OK")]
    return "; ".join(lines) or res.stderr.strip()


def _only_nokey(root: Path, path: Path) -> bool:
    """True when the only problem is a signature by a key the keyring lacks (no BAD digest or signature)."""
    detail = _detail(root, path)
    return "NOKEY" in detail and "BAD" not in detail


def check_rpm_pinned(path: Path, keys: list[PinnedKey], what: str) -> None:
    """`rpmkeys --checksig` of one RPM in a keyring holding exactly `keys` (the pinned ones);
    anything but "digests signatures OK" is a SignatureError (exit 7)."""
    with tempfile.TemporaryDirectory(prefix="wcbundle-rpmkeys-") as tmp:
        root = Path(tmp)
        (root / "rpmdb").mkdir()
        for i, key in enumerate(keys):
            one = root / f"key-{i}.asc"
            one.write_text(key.armored)
            try:
                run(["rpmkeys", "--root", root, "--dbpath", "/rpmdb", "--import", one])
            except CommandFailed as exc:
                raise SignatureError(f"rpm could not import the key {key.fingerprint} from {key.url}: "
                                     f"{exc.stderr.strip() or 'no reason given'}.") from None
        verdict = _verdicts(root, [path]).get(str(path), "not checked")
        if verdict != "digests signatures OK":
            raise SignatureError(
                f"{what} is not signed by its pinned key: rpmkeys says '{verdict}' "
                f"({_detail(root, path)}); pinned: {', '.join(k.fingerprint for k in keys)}.",
                hint="Nothing was kept. Check that the URL serves the vendor's file and that the pinned "
                     "fingerprint is the key the vendor signs it with.")


def check_allow_unsigned(lock: Lock, allow_unsigned: list[str] | tuple[str, ...]) -> set[str]:
    """The --allow-unsigned repos, each checked to be a repo of the lock (before anything is fetched)."""
    repos = lock.repos
    allowed = set(allow_unsigned)
    unknown = allowed - set(repos)
    if unknown:
        raise InputError(f"--allow-unsigned names {', '.join(sorted(unknown))}, which is not a repo of this "
                         f"build (repos: {', '.join(sorted(repos))}).")
    return allowed


def check_signatures(lock: Lock, files: dict[str, Path], keys: dict[str, RepoKeys],
                     allow_unsigned: list[str] | tuple[str, ...] = ()) -> SignatureReport:
    """Check every package of the lock; raise SignatureError listing each failure.

    Keyrings are built per repo, then rpmkeys runs on batches of up to BATCH packages
    in parallel (the repos are independent and a big repo is split), one worker per CPU.
    """
    allowed = check_allow_unsigned(lock, allow_unsigned)
    report = SignatureReport(allow_unsigned=sorted(allowed))
    by_repo: dict[str, list[Package]] = {}
    for p in lock.packages:
        by_repo.setdefault(p.repo, []).append(p)
    failures: list[str] = []
    workers = max(1, min(8, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="wcbundle-rpmkeys-") as tmp, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        roots: dict[str, Path] = {}
        for repo, pkgs in sorted(by_repo.items()):
            rk = keys.get(repo) or RepoKeys(repo, [])
            if not rk.files and repo not in allowed:
                failures.append(f"repo '{repo}' has no GPG key, so none of its {len(pkgs)} packages can be "
                                f"verified (first: {nevra_of(pkgs[0])}). Give it one with --gpgkey {repo}=URL "
                                f"or the manifest's gpgkey, or accept it with --allow-unsigned {repo}.")
                continue
            roots[repo] = Path(tmp) / repo
            (roots[repo] / "rpmdb").mkdir(parents=True)
        list(pool.map(lambda r: _import(roots[r], keys[r]) if r in keys and keys[r].files else None, roots))
        jobs = []
        for repo, root in roots.items():
            report.keys[repo] = (keys.get(repo) or RepoKeys(repo, [])).key_ids
            report.fingerprints[repo] = list((keys.get(repo) or RepoKeys(repo, [])).fingerprints)
            pkgs = by_repo[repo]
            step = max(1, min(BATCH, -(-len(pkgs) // workers)))
            for i in range(0, len(pkgs), step):
                batch = pkgs[i:i + step]
                jobs.append((repo, batch, pool.submit(_verdicts, root, [files[p.checksum] for p in batch])))
        for repo, batch, fut in jobs:
            rk, verdicts = keys.get(repo) or RepoKeys(repo, []), fut.result()
            for p in batch:
                path = files[p.checksum]
                v = verdicts[str(path)]
                report.checked += 1
                if v == "digests signatures OK":
                    report.signed_ok += 1
                elif v == "digests OK" and repo in allowed:
                    report.unsigned_allowed.append(nevra_of(p))
                elif repo in allowed and v == "digests SIGNATURES NOT OK" and _only_nokey(roots[repo], path):
                    report.unsigned_allowed.append(nevra_of(p))  # signed by a key we do not hold: unverified
                elif v == "digests OK":
                    failures.append(f"{nevra_of(p)} (repo '{repo}') is not signed (digests only); the repo's "
                                    f"keys are {_keys_text(rk)}.")
                else:
                    failures.append(f"{nevra_of(p)} (repo '{repo}'): {v}: {_detail(roots[repo], path)}; "
                                    f"trusted keys for this repo: {_keys_text(rk)}.")
    if report.unsigned_allowed:
        log.warning("accepted %d unsigned packages from %s (--allow-unsigned)",
                    len(report.unsigned_allowed), ", ".join(sorted(allowed)))
    if failures:
        shown = failures[:20] + ([f"... and {len(failures) - 20} more"] if len(failures) > 20 else [])
        raise SignatureError("RPM signature check failed:\n" + "\n".join(f"  - {f}" for f in shown),
                             hint="A NOKEY means the package was signed by a key the repo's gpgkey does not "
                                  "hold: fix the key URL (--gpgkey ID=URL). BAD means the file was altered. "
                                  "--allow-unsigned REPO accepts unsigned packages of one repo, on record.")
    return report


def _keys_text(rk: RepoKeys) -> str:
    if not rk.urls:
        return "none"
    ids = ", ".join(f"{k} ({n})" for k, n in zip(rk.key_ids, rk.names)) or "no key imported"
    return f"{ids} from {', '.join(rk.urls)}"
