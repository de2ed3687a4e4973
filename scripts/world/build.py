"""Build one EL world into a directory: keys, RPMs, signatures, repodata, WORLD.json.

Layout of a world root (what the mirror serves):
    el<N>/<repo id>/Packages/*.rpm, repodata/ (repomd.xml.asc signed by the repo's key), RPM-GPG-KEY-<repo id>
    el<N>/keys/RPM-GPG-KEY-<repo id>
    WORLD.json
The GnuPG home lives in a short temp dir (agent sockets have a path limit)
and its agent is stopped before the temp dir goes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bundler.core.run import run, which

from . import model
from .plan import REPO_IDS, comps_source, plan
from .realmeta import filter_comps
from .rpmspec import build_rpms


def _say(msg: str) -> None:
    print(f"world: {msg}", file=sys.stderr, flush=True)


def key_uid(el: int, repo: str) -> str:
    return f"wcbundle fixture world {repo} el{el} <{repo}-el{el}@world.wcbundle.invalid>"


def key_fingerprint(gnupg: Path, uid: str) -> str:
    """The full fingerprint of the world key `uid` (what repo_args pins with --key-fingerprint)."""
    out = run(["gpg", "--batch", "--with-colons", "--list-keys", uid], env={"GNUPGHOME": str(gnupg)}).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def sign_repomd(repo_dir: Path, el: int, repo: str, gnupg: Path) -> None:
    """repodata/repomd.xml.asc: an armored detached signature by the repo's key (dnf's repo_gpgcheck)."""
    email = key_uid(el, repo).split("<")[1].rstrip(">")
    run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--local-user", email,
         "--armor", "--detach-sign", "--output", str(repo_dir / "repodata" / "repomd.xml.asc"),
         str(repo_dir / "repodata" / "repomd.xml")], env={"GNUPGHOME": str(gnupg)}, timeout=120)


def make_keys(el: int, gnupg: Path, keys_dir: Path) -> dict[str, Path]:
    """One unprotected RSA-2048 signing key per repo (EL7's rpm reads RSA, not EdDSA)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    env = {"GNUPGHOME": str(gnupg)}
    out = {}
    for repo in REPO_IDS[el]:
        uid = key_uid(el, repo)
        run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
             "--quick-gen-key", uid, "rsa2048", "sign", "never"], env=env, timeout=120)
        armored = run(["gpg", "--batch", "--armor", "--export", uid], env=env).stdout
        path = keys_dir / f"RPM-GPG-KEY-{repo}"
        path.write_text(armored)
        out[repo] = path
    return out


def sign(rpms: list[Path], el: int, repo: str, gnupg: Path) -> None:
    if not rpms:
        return
    email = key_uid(el, repo).split("<")[1].rstrip(">")
    # Debian's rpm defaults %__gpg to /usr/bin/gpg2, which Debian does not ship.
    # RSA/SHA256 as the real EL7/EL9 packages; on EL7 also the v3 header+payload
    # signature that rpm 4.11-era packages carry (rpm >= 4.14 writes the header one only).
    argv = ["rpmsign", "--addsign", "--define", f"__gpg {which('gpg')}", "--define", f"_gpg_name {email}",
            "--define", f"_gpg_path {gnupg}", "--define", "_gpg_digest_algo sha256"]
    if el == 7:
        argv.append("--rpmv3")
    for i in range(0, len(rpms), 60):
        run(argv + [str(r) for r in rpms[i:i + 60]], env={"GNUPGHOME": str(gnupg)}, timeout=900)


def make_repodata(repo_dir: Path, comps: Path | None, modules: str | None, work: Path) -> None:
    # gz everywhere: EL7 yum cannot read zstd (fedora-copr #3021), and gz keeps
    # the EL9 world readable with the standard library alone.
    argv = ["createrepo_c", "--general-compress-type=gz", "--no-database", "--quiet"]
    if comps is not None:
        argv += ["--groupfile", str(comps)]
    run(argv + [str(repo_dir)], timeout=600)
    if modules is not None:
        src = work / "modules.yaml"
        src.write_text(modules)
        run(["modifyrepo_c", "--mdtype=modules", "--compress-type=xz", str(src),
             str(repo_dir / "repodata")], timeout=300)


def build_world(el: int, dest: Path, inputs_hash: str) -> None:
    """Build the EL `el` world into `dest` (which must not exist yet)."""
    t0 = time.monotonic()
    repos = plan(el)
    _say(f"EL{el}: " + ", ".join(f"{r}={len(p)}" for r, p in repos.items()) + " packages")
    top = dest / f"el{el}"
    work = Path(tempfile.mkdtemp(prefix="wcbw-"))
    gnupg = work / "g"
    gnupg.mkdir(mode=0o700)
    try:
        keys = make_keys(el, gnupg, top / "keys")
        summary = {}
        for repo, pkgs in repos.items():
            repo_dir = top / repo
            rpms = build_rpms(pkgs, work / "build", repo_dir / "Packages", repo)
            sign(rpms, el, repo, gnupg)
            shutil.copy2(keys[repo], repo_dir / f"RPM-GPG-KEY-{repo}")
            comps = None
            if repo in ("c7-os", "el8-baseos", "el9-baseos"):
                comps = work / f"comps-{repo}.xml"
                comps.write_bytes(filter_comps(comps_source(el), {p.name for p in pkgs}))
            modules = None
            if any(p.modularity_label for p in pkgs):
                modules = model.el8_modules_yaml(pkgs) if el == 8 else model.modules_yaml(pkgs)
            make_repodata(repo_dir, comps, modules, work)
            sign_repomd(repo_dir, el, repo, gnupg)
            summary[repo] = {
                "fingerprint": key_fingerprint(gnupg, key_uid(el, repo)),
                "packages": len(pkgs),
                "modelled": all(p.modelled for p in pkgs) if pkgs else True,
                "nevras": sorted(p.nevra for p in pkgs),
            }
            _say(f"EL{el}: {repo}: {len(rpms)} RPMs built, signed, indexed")
    finally:
        run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"], check=False)
        shutil.rmtree(work, ignore_errors=True)
    info = {"el": el, "inputs_sha256": inputs_hash, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - t0, 1), "repos": summary}
    (dest / "WORLD.json").write_text(json.dumps(info, indent=1) + "\n")
    _say(f"EL{el}: built in {info['build_seconds']} s")
