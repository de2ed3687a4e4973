"""Update bundles (`wcbundle build --since OLD`, issue 14): which packages an update carries, the
checks that OLD is this build's base, and what bundle.json / bundle.env record about it.

An update holds the full new lock (what every role has after it) but only the RPMs whose sha256
OLD does not have; its repo/ indexes just those, so the target configures OLD's repo and the
update's repo side by side (docs/design.md, the bundle contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..carry.diff import BundleDoc, diff_locks, lock_sha256
from ..core.errors import InputError


@dataclass
class Update:
    """What pack needs to make an update bundle."""

    base: dict[str, Any]                 # bundle.json's `base`
    old_shas: set[str] = field(default_factory=set)
    diff: dict[str, Any] = field(default_factory=dict)

    def carried(self, d: dict) -> dict:
        """The lock dict `d` with only the packages this update ships."""
        return {**d, "packages": [p for p in d["packages"] if _sha(p) not in self.old_shas]}


def _sha(p: dict) -> str:
    return str(p.get("checksum", "")).partition(":")[2]


def check_base(old: BundleDoc, el: int, arch: str, site: str | None) -> None:
    """OLD must be a bundle of the same EL, arch and site as this build: InputError (exit 3) otherwise."""
    lock = old.lock
    if int(lock["el"]) != int(el):
        raise InputError(f"{old.label} is an EL{lock['el']} bundle ({old.bundle_id}); this build is for EL{el}.",
                         hint=f"Give --since the last bundle installed on the EL{el} site, or build with --el {lock['el']}.")
    if lock["arch"] != arch:
        raise InputError(f"{old.label} is a {lock['arch']} bundle ({old.bundle_id}); this build is for {arch}.",
                         hint="Give --since a bundle of the same architecture.")
    if old.site != site:
        have = f"site '{old.site}'" if old.site else "no site file"
        want = f"site '{site}'" if site else "no --site"
        raise InputError(f"{old.label} ({old.bundle_id}) was built with {have}; this build has {want}. "
                         "An update must carry the same site as the bundle it updates.",
                         hint="Pass the same --site file as the earlier build (or give --since that site's bundle).")


def make_update(old: BundleDoc, new_lock: dict) -> Update:
    digest = lock_sha256(old.lock)
    base = {"bundle_id": old.bundle_id, "lock_sha256": digest,
            "el": int(old.lock["el"]), "arch": old.lock["arch"], "site": old.site,
            "kind": (old.doc.get("build") or {}).get("kind", "full")}
    return Update(base=base, old_shas={_sha(p) for p in old.lock["packages"]},
                  diff=diff_locks(old.lock, new_lock))
