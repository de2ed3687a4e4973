"""The fixture world: real, signed RPM repos (shadow + modelled) cached per machine.

`ensure(el)` returns a `World`, building it on first use under
$XDG_CACHE_HOME/wcbundle-world/el<N>-<hash of inputs>/ (default ~/.cache).
The hash covers this package's code and the realmeta files it reads, so a
change to either builds a fresh world. A build happens in a temp dir under an
flock and is renamed into place, so an interrupted build never leaves a half
world and concurrent test runs build it once. See README.md here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .plan import BASE_REPO, REPO_IDS, input_files

__all__ = ["World", "ensure", "cache_root", "REPO_IDS"]

# A world of other inputs is removed when a new one is built and it is older
# than this: long enough that no test session still reads it.
PRUNE_AFTER = 6 * 3600.0


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wcbundle-world"


def inputs_hash(el: int) -> str:
    h = hashlib.sha256(f"el{el}".encode())
    for path in input_files(el):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass
class World:
    """A built world. `root` is what a mirror serves; repos live at root/el<N>/<id>/."""

    el: int
    root: Path

    @property
    def repo_ids(self) -> list[str]:
        return list(REPO_IDS[self.el])

    @property
    def base_repo(self) -> str:
        return BASE_REPO[self.el]

    @property
    def repos(self) -> dict[str, Path]:
        return {r: self.root / f"el{self.el}" / r for r in self.repo_ids}

    @property
    def keys(self) -> dict[str, Path]:
        return {r: self.root / f"el{self.el}" / "keys" / f"RPM-GPG-KEY-{r}" for r in self.repo_ids}

    @property
    def info(self) -> dict:
        return json.loads((self.root / "WORLD.json").read_text())

    def repo_url(self, base_url: str, repo: str) -> str:
        return f"{base_url.rstrip('/')}/el{self.el}/{repo}/"

    @property
    def fingerprints(self) -> dict[str, str]:
        """repo -> the full fingerprint of its (per-build) test key."""
        return {r: self.info["repos"][r]["fingerprint"] for r in self.repo_ids}

    def repo_args(self, base_url: str) -> list[str]:
        """`--repo ID=URL --gpgkey ID=file://KEY --key-fingerprint ID=FPR` for every repo, for wcbundle
        resolve/build. The world's keys are not the vendors': each override carries its own pin."""
        args: list[str] = []
        fprs = self.fingerprints
        for repo in self.repo_ids:
            args += ["--repo", f"{repo}={self.repo_url(base_url, repo)}",
                     "--gpgkey", f"{repo}={self.keys[repo].resolve().as_uri()}",
                     "--key-fingerprint", f"{repo}={fprs[repo]}"]
        return args


def ensure(el: int = 7, *, rebuild: bool = False) -> World:
    """The EL `el` world, built if missing or stale. Safe to call from parallel processes."""
    if el not in REPO_IDS:
        raise ValueError(f"no fixture world for EL{el} (have: {sorted(REPO_IDS)})")
    digest = inputs_hash(el)
    base = cache_root()
    root = base / f"el{el}-{digest[:16]}"
    if (root / "WORLD.json").is_file() and not rebuild:
        return World(el, root)
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".el{el}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # one builder per machine; the others wait and reuse
        if (root / "WORLD.json").is_file() and not rebuild:
            return World(el, root)
        for stale in base.glob(f".tmp-el{el}-*"):   # left by an interrupted build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = base / f".tmp-el{el}-{digest[:16]}-{os.getpid()}"
        from .build import build_world  # heavy imports only when building
        try:
            build_world(el, tmp, digest)
            if root.exists():
                shutil.rmtree(root)
            os.rename(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(base, el, keep=root)
    return World(el, root)


def _prune(base: Path, el: int, keep: Path, max_age: float = PRUNE_AFTER) -> None:
    """Drop worlds of older inputs once nobody can still be using them (built > max_age ago)."""
    now = time.time()
    for old in base.glob(f"el{el}-*"):
        stamp = old / "WORLD.json"
        if old != keep and stamp.is_file() and now - stamp.stat().st_mtime > max_age:
            shutil.rmtree(old, ignore_errors=True)
