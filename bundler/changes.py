"""What each role does to the baseline, read from the lock alone: one answer for resolve, inspect
and the report.

The lock's role results say which packages are new to the target (install), newer or older
builds of a baseline package of the same name (upgrade, downgrade), or rebuilt records of one
(reinstall); each package's `upgrade_of` names the baseline package of its name, and its
`replaces` the baseline packages it takes the place of through its Obsoletes (EL7's
MariaDB-compat replaces mariadb-libs). resolve, inspect and report.html all count through
`role_changes`, so they cannot disagree.

A bundle.json written before the lock had `replaces` recorded an obsoleted package of another
name in `upgrade_of`; that is read as a replacement too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .lock import nevra_of


@dataclass
class RoleChanges:
    install: list[str] = field(default_factory=list)                  # NEVRAs new to the target
    upgrade: list[tuple[str, str]] = field(default_factory=list)      # (NEVRA, the baseline NEVRA it upgrades)
    downgrade: list[tuple[str, str]] = field(default_factory=list)    # (NEVRA, the newer baseline NEVRA)
    reinstall: list[str] = field(default_factory=list)                # NEVRAs the baseline has too
    replace: list[tuple[str, str]] = field(default_factory=list)      # (NEVRA, the baseline NEVRA it obsoletes)

    @property
    def total(self) -> int:
        """Packages the role installs (a replacing package is one of them)."""
        return len(self.install) + len(self.upgrade) + len(self.downgrade) + len(self.reinstall)

    def to_dict(self) -> dict[str, list]:
        return {"install": list(self.install), "upgrade": [list(x) for x in self.upgrade],
                "downgrade": [list(x) for x in self.downgrade], "reinstall": list(self.reinstall),
                "replace": [list(x) for x in self.replace]}


def name_of(nevra: str) -> str:
    """The name of a 'name-epoch:version-release.arch' string."""
    return nevra.rsplit(":", 1)[0].rsplit("-", 1)[0]


def replaced_by(p: dict[str, Any]) -> list[str]:
    """The baseline NEVRAs package entry p replaces through its Obsoletes."""
    if "replaces" in p:
        return list(p.get("replaces") or [])
    old = p.get("upgrade_of")  # an older lock: an obsoleted package of another name was kept here
    return [old] if old and name_of(old) != p["name"] else []


def upgraded_by(p: dict[str, Any]) -> str | None:
    """The baseline NEVRA of the same name that package entry p upgrades or downgrades."""
    old = p.get("upgrade_of")
    return old if old and name_of(old) == p["name"] else None


def role_changes(lock: Any) -> dict[str, RoleChanges]:
    """role -> RoleChanges, from a Lock or its dict (bundle.json's "lock")."""
    d = lock.to_dict() if hasattr(lock, "to_dict") else lock
    by_nevra = {nevra_of(p): p for p in d.get("packages", [])}
    out: dict[str, RoleChanges] = {}
    for role, r in sorted(d.get("roles", {}).items()):
        rc = out[role] = RoleChanges()
        for kind in ("install", "upgrade", "downgrade", "reinstall"):
            for nevra in r.get(kind, []):
                p = by_nevra.get(nevra, {"name": name_of(nevra)})
                if kind in ("upgrade", "downgrade"):
                    getattr(rc, kind).append((nevra, upgraded_by(p) or ""))
                else:
                    getattr(rc, kind).append(nevra)
                rc.replace += [(nevra, old) for old in replaced_by(p)]
        for lst in (rc.install, rc.upgrade, rc.downgrade, rc.reinstall, rc.replace):
            lst.sort()
    return out


def changes_words(rc: RoleChanges | dict) -> str:
    """'52 packages (52 new, 0 upgrades); replaces 1 baseline package through Obsoletes'."""
    if isinstance(rc, dict):
        rc = RoleChanges(install=rc.get("install", []), upgrade=[tuple(x) for x in rc.get("upgrade", [])],
                         downgrade=[tuple(x) for x in rc.get("downgrade", [])],
                         reinstall=rc.get("reinstall", []), replace=[tuple(x) for x in rc.get("replace", [])])
    n_up = len(rc.upgrade)
    text = (f"{rc.total} package{'' if rc.total == 1 else 's'} ({len(rc.install)} new, "
            f"{n_up} upgrade{'' if n_up == 1 else 's'}"
            + (f", {len(rc.downgrade)} downgrade{'' if len(rc.downgrade) == 1 else 's'}" if rc.downgrade else "")
            + (f", {len(rc.reinstall)} reinstall{'' if len(rc.reinstall) == 1 else 's'}" if rc.reinstall else "")
            + ")")
    if rc.replace:
        n = len(rc.replace)
        text += f"; replaces {n} baseline package{'' if n == 1 else 's'} through Obsoletes"
    return text


def _vercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp: alternating numeric and alphabetic segments; '~' sorts before anything,
    '^' after the end only; a numeric segment beats an alphabetic one."""
    import re
    if a == b:
        return 0
    seg = re.compile(r"(\d+|[A-Za-z]+|~|\^)")
    xa, xb = seg.findall(a), seg.findall(b)
    for sa, sb in zip(xa, xb):
        if sa != sb:
            if sa == "~" or sb == "~":
                return -1 if sa == "~" else 1
            if sa == "^" or sb == "^":
                return -1 if sb == "^" and sa != "^" else 1 if sa == "^" and sb != "^" else 0
            if sa.isdigit() != sb.isdigit():
                return 1 if sa.isdigit() else -1
            if sa.isdigit():
                na, nb = int(sa), int(sb)
                if na != nb:
                    return 1 if na > nb else -1
            else:
                return 1 if sa > sb else -1
    if len(xa) == len(xb):
        return 0
    longer, sign = (xa, 1) if len(xa) > len(xb) else (xb, -1)
    nxt = longer[min(len(xa), len(xb))]
    if nxt == "~":
        return -sign
    return sign


def evr_cmp(a: tuple[int, str, str], b: tuple[int, str, str]) -> int:
    """Compare (epoch, version, release) as rpm does: <0, 0 or >0."""
    if int(a[0] or 0) != int(b[0] or 0):
        return 1 if int(a[0] or 0) > int(b[0] or 0) else -1
    return _vercmp(a[1], b[1]) or _vercmp(a[2], b[2])
