"""The lock: the resolve result as JSON, the only input of fetch and pack.

Format: docs/design.md section 3. NEVRA strings are name-epoch:version-release.arch
with the epoch always written. Packages are sorted by name then arch, each once,
shared by roles. `Lock.from_dict` checks the shape so that a hand-edited or
truncated lock is an InputError, not a KeyError deep inside fetch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import InputError
from .core.fileutil import atomic_write

LOCK_VERSION = 1


@dataclass
class Package:
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    repo: str
    location: str
    url: str
    checksum: str                 # "sha256:<hex>"
    size: int
    license: str = ""
    vendor: str = ""
    sourcerpm: str = ""
    modularity_label: str | None = None
    upgrade_of: str | None = None       # the baseline package of the same name this one upgrades
    replaces: list[str] = field(default_factory=list)   # baseline packages it replaces through Obsoletes
    roles: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    joint: list[str] = field(default_factory=list)      # the joint jobs (Lock.joint keys) whose closure has it

    @property
    def nevra(self) -> str:
        return nevra(self.name, self.epoch, self.version, self.release, self.arch)

    @property
    def filename(self) -> str:
        return self.location.rsplit("/", 1)[-1]


@dataclass
class RoleResult:
    install: list[str] = field(default_factory=list)    # NEVRAs new to the baseline
    upgrade: list[str] = field(default_factory=list)    # NEVRAs upgrading the baseline package of their name
    requested: list[str] = field(default_factory=list)  # names asked for
    replaced: list[str] = field(default_factory=list)   # baseline NEVRAs replaced through Obsoletes
    reinstall: list[str] = field(default_factory=list)  # NEVRAs the baseline has, but with less in its record
    downgrade: list[str] = field(default_factory=list)  # NEVRAs older than the baseline package of their name
    satisfied: list[str] = field(default_factory=list)  # requests the baseline already satisfies


@dataclass
class Lock:
    el: int
    arch: str
    baseline: dict[str, Any]
    manifest: dict[str, Any]
    repos: dict[str, dict[str, Any]]
    roles: dict[str, RoleResult]
    packages: list[Package]
    modules: dict[str, str] = field(default_factory=dict)
    # role sets one host holds together ("a+b", sorted) -> their one joint solve; the bundle carries the
    # union of these closures and the per-role ones, so that the roles install together (docs/design.md)
    joint: dict[str, RoleResult] = field(default_factory=dict)
    lock_version: int = LOCK_VERSION

    def to_dict(self) -> dict:
        return {
            "lock_version": self.lock_version,
            "el": self.el,
            "arch": self.arch,
            "baseline": self.baseline,
            "manifest": self.manifest,
            "repos": self.repos,
            # dict(vars(...)) rather than asdict(): same fields, without asdict's deep copies
            "roles": {name: {k: list(v) for k, v in vars(r).items()} for name, r in sorted(self.roles.items())},
            "packages": [{k: (list(v) if isinstance(v, list) else v) for k, v in vars(p).items()
                          if k != "joint" or v}   # written only when a joint job has it
                         for p in sorted(self.packages, key=lambda p: (p.name, p.arch))],
            "modules": self.modules,
            **({"joint": {name: {k: list(v) for k, v in vars(r).items()} for name, r in sorted(self.joint.items())}}
               if self.joint else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Lock:
        try:
            if d.get("lock_version") != LOCK_VERSION:
                raise InputError(f"unsupported lock_version {d.get('lock_version')!r} (this tool reads {LOCK_VERSION})")
            pkgs = [Package(**p) for p in d["packages"]]
            roles = {k: RoleResult(**v) for k, v in d["roles"].items()}
            joint = {k: RoleResult(**v) for k, v in d.get("joint", {}).items()}
            return cls(el=int(d["el"]), arch=d["arch"], baseline=d["baseline"], manifest=d["manifest"],
                       repos=d["repos"], roles=roles, packages=pkgs, modules=d.get("modules", {}), joint=joint)
        except InputError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InputError(f"the lock is malformed: {type(exc).__name__}: {exc}",
                             hint="Regenerate it with `wcbundle resolve --json`.") from None

    def package(self, nevra_str: str) -> Package | None:
        return next((p for p in self.packages if p.nevra == nevra_str), None)

    def total_size(self, role: str | None = None) -> int:
        return sum(p.size for p in self.packages if role is None or role in p.roles or role in p.joint)


def joint_key(roles) -> str:
    """The name of the joint job of a set of roles: sorted, joined by '+' (a role name has no '+')."""
    return "+".join(sorted(set(roles)))


def nevra(name: str, epoch: int | str, version: str, release: str, arch: str) -> str:
    """The one NEVRA formatter: name-epoch:version-release.arch, the epoch always written."""
    return f"{name}-{epoch or 0}:{version}-{release}.{arch}"


def nevra_evr(name: str, evr: str, arch: str) -> str:
    """NEVRA from an EVR string as libsolv and rpm print it ("[epoch:]version-release")."""
    epoch, sep, vr = evr.partition(":")
    if not sep:
        epoch, vr = "0", evr
    version, _, release = vr.rpartition("-")
    return nevra(name, epoch, version, release, arch)


def nevra_of(p: Package | dict[str, Any]) -> str:
    """The NEVRA of a lock package, typed or in its JSON shape."""
    if isinstance(p, Package):
        return p.nevra
    return nevra(p["name"], p.get("epoch", 0), p["version"], p["release"], p["arch"])


def lock_as_dict(lock: Lock | dict) -> dict:
    """The lock in its JSON shape (docs/design.md section 3), from a Lock or a dict."""
    return lock.to_dict() if hasattr(lock, "to_dict") else lock


def dump(lock: Lock, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename): a half-written lock never exists."""
    atomic_write(Path(path), json.dumps(lock.to_dict(), indent=2, sort_keys=False) + "\n")


def load(path: str | os.PathLike[str]) -> Lock:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"cannot read the lock: {exc.strerror}", path=str(path)) from None
    except ValueError as exc:
        raise InputError(f"the lock is not valid JSON: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("the lock is not a JSON object", path=str(path))
    if "lock" in data and "packages" not in data:  # bundle.json carries the lock under "lock"
        data = data["lock"]
    return Lock.from_dict(data)
