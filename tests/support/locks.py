"""Locks for tests: the JSON shape of docs/design.md section 3, and the typed bundler.lock.Lock."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bundler.lock import Lock

__all__ = ["as_lock", "lock_dict", "lock_for", "package"]


def package(name: str, body: bytes = b"", *, repo: str = "r1", version: str = "1", release: str = "1",
            arch: str = "noarch", epoch: int = 0, location: str | None = None, **extra) -> dict:
    """One lock package entry whose checksum and size are those of `body`."""
    p = {"name": name, "epoch": epoch, "version": version, "release": release, "arch": arch, "repo": repo,
         "location": location or f"Packages/{name}.rpm", "url": "",
         "checksum": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}
    p.update(extra)
    return p


def lock_dict(packages: list[dict], repos: dict | None = None, *, el: int = 9, roles: dict | None = None,
              **over) -> dict:
    """A complete lock (lock_version 1) around `packages`; every key can be overridden."""
    d = {"lock_version": 1, "el": el, "arch": "x86_64", "baseline": {"kind": "none", "source": "", "count": 0},
         "manifest": {"name": "t", "sha256": "0" * 64}, "repos": repos or {},
         "roles": roles if roles is not None else {"r": {"install": [], "upgrade": [],
                                                         "requested": [p["name"] for p in packages]}},
         "packages": sorted(packages, key=lambda p: (p["name"], p["arch"])), "modules": {}}
    d.update(over)
    return d


def as_lock(d: dict) -> Lock:
    """The typed Lock of a lock dict (missing optional package fields get their defaults)."""
    return Lock.from_dict(d)


def lock_for(rpms: dict[str, list[Path]], keys: dict[str, list[Path]], el: int = 9,
             pins: dict[str, list[str]] | None = None) -> Lock:
    """A typed Lock over local RPMs, one repo per key of `rpms`; each repo pins every key of its key
    files unless `pins` says otherwise."""
    from bundler.assemble.signatures import key_fingerprints
    pkgs, repos = [], {}
    for repo, files in rpms.items():
        fprs = [f for k in keys.get(repo, []) if "BEGIN PGP" in k.read_text()
                for f, _ in key_fingerprints(k.read_text())]
        repos[repo] = {"baseurls": [files[0].parent.as_uri()],
                       "gpgkeys": [k.as_uri() for k in keys.get(repo, [])], "module_hotfixes": False,
                       "fingerprints": (pins or {}).get(repo, fprs)}
        for f in files:
            n, v, r = f.name[: -len(".noarch.rpm")].rsplit("-", 2)
            pkgs.append({"name": n, "epoch": 0, "version": v, "release": r, "arch": "noarch", "repo": repo,
                         "location": f.name, "url": f.as_uri(), "size": f.stat().st_size,
                         "checksum": "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest(),
                         "license": "MIT", "vendor": "", "sourcerpm": "", "modularity_label": None,
                         "upgrade_of": None, "roles": ["r"], "why": [n]})
    return as_lock(lock_dict(pkgs, repos, el=el))
