"""What each role does to the baseline, from the lock alone: one answer for resolve, inspect and the report.

A package of a role is either new to the target (install), a newer build of a baseline
package with the same name (upgrade), or a package that takes the place of a baseline
package of another name through its Obsoletes (replace: EL7's MariaDB-compat replaces
mariadb-libs). The lock records the replaced baseline NEVRA of both kinds in the
package's `upgrade_of`; the name decides which kind it is. resolve, inspect and
report.html all count through `role_changes`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoleChanges:
    install: list[str] = field(default_factory=list)                  # NEVRAs new to the target
    upgrade: list[tuple[str, str]] = field(default_factory=list)      # (NEVRA, the baseline NEVRA it upgrades)
    replace: list[tuple[str, str]] = field(default_factory=list)      # (NEVRA, the baseline NEVRA it obsoletes)

    @property
    def total(self) -> int:
        return len(self.install) + len(self.upgrade) + len(self.replace)


def nevra_of(p: dict[str, Any]) -> str:
    return f"{p['name']}-{p.get('epoch', 0)}:{p['version']}-{p['release']}.{p['arch']}"


def name_of(nevra: str) -> str:
    """The name of a 'name-epoch:version-release.arch' string."""
    head = nevra.rsplit(":", 1)[0]          # name-epoch
    return head.rsplit("-", 1)[0]


def kind_of(p: dict[str, Any]) -> str:
    """install, upgrade or replace, for one package entry of the lock."""
    old = p.get("upgrade_of")
    if not old:
        return "install"
    return "upgrade" if name_of(old) == p["name"] else "replace"


def role_changes(lock: Any) -> dict[str, RoleChanges]:
    """role -> RoleChanges, from a Lock or its dict (bundle.json's "lock")."""
    d = lock.to_dict() if hasattr(lock, "to_dict") else lock
    out = {role: RoleChanges() for role in sorted(d.get("roles", {}))}
    for p in d.get("packages", []):
        kind, nevra = kind_of(p), nevra_of(p)
        for role in p.get("roles", []):
            rc = out.setdefault(role, RoleChanges())
            if kind == "install":
                rc.install.append(nevra)
            else:
                getattr(rc, kind).append((nevra, p["upgrade_of"]))
    for rc in out.values():
        rc.install.sort()
        rc.upgrade.sort()
        rc.replace.sort()
    return out
