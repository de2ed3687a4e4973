"""What changed between two bundles (`wcbundle diff OLD NEW`, the update's report), and reading a
bundle's bundle.json from whatever the operator has of it (issue 14).

A bundle may be given as its `.tar` (with the `.tar.sha256` sidecar), its split parts (the
`.parts.json` index or a part), an extracted bundle directory, or its `bundle.json` alone. A tar
or its parts are read by streaming through verify.py's safe scanner (tarsafe, the member rules,
every member checked against MANIFEST.sha256); nothing is extracted. Anything unreadable is an
InputError (exit 3) that names the file and what is wrong with it.

The diff is per role, from the two locks alone: a package (name, arch) only NEW's role has is
added, one only OLD's role has is removed, one both have in another build is upgraded (or
downgraded). Sizes are the RPM sizes the locks record. `carried` is what an update from OLD to NEW
holds: NEW's packages whose sha256 OLD does not have.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..changes import evr_cmp
from ..core.errors import InputError, WcbundleError
from ..core.units import human_size
from ..lock import nevra_of

HINT = ("Give the earlier bundle as its .tar (with its .tar.sha256), its .parts.json, an extracted bundle "
        "directory, or its bundle.json.")


@dataclass
class BundleDoc:
    """A bundle's bundle.json and its identity."""

    doc: dict
    bundle_id: str          # the top directory name (bundle.env's WCB_BUNDLE_ID)
    label: str              # what the operator gave, for messages
    # site/secrets.env's bytes (a .tar or parts: checked against MANIFEST.sha256; a directory: against
    # its MANIFEST.sha256 line when it has one); None when the bundle has none or the form cannot carry
    # it (a bare bundle.json: form "json"). Never printed: an update copies it (assemble/update.py).
    secrets: bytes | None = field(default=None, repr=False)
    form: str = "json"      # json | dir | tar | parts

    @property
    def lock(self) -> dict:
        return self.doc["lock"]

    @property
    def site(self) -> str | None:
        s = self.doc.get("site")
        return s.get("name") if isinstance(s, dict) else None


def lock_sha256(lock: dict) -> str:
    """The lock's digest: sha256 of its canonical JSON (sorted keys, no spaces). bundle.json's `base`
    and bundle.env's WCB_LOCK_SHA256 / WCB_BASE_LOCK_SHA256 carry it."""
    return hashlib.sha256(json.dumps(lock, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_bundle_doc(path: Path, what: str = "bundle") -> BundleDoc:
    """bundle.json of a bundle given in any of its forms; InputError (exit 3) when it cannot be read."""
    path = Path(path)
    label = f"{what} {path}"
    try:
        raw, top, secrets, form = _raw(path)
    except InputError as exc:
        raise InputError(f"{what} {exc.message}", hint=exc.hint) from None
    except WcbundleError as exc:   # an integrity or usage failure of OLD is bad input to this command
        raise InputError(f"{label} cannot be read: {exc.message}", hint=HINT) from None
    except OSError as exc:
        raise InputError(f"{label} cannot be read: {exc.strerror or exc}.", hint=HINT) from None
    try:
        doc = json.loads(raw)
        lock = doc["lock"]
        if not isinstance(lock, dict) or not isinstance(lock["packages"], list) or not isinstance(lock["roles"], dict):
            raise TypeError("lock.packages must be a list and lock.roles an object")
        int(lock["el"])
        str(lock["arch"])
        for p in lock["packages"]:
            nevra_of(p)
            if not _sha(p):
                raise ValueError(f"package {p['name']} has no sha256 checksum")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{label}: bundle.json is not a wcbundle bundle document ({type(exc).__name__}: {exc}).",
                         hint=HINT) from None
    top = (doc.get("build") or {}).get("bundle_id") or top
    if not top:
        raise InputError(f"{label}: bundle.json does not name its bundle id and has no bundle.env beside it.",
                         hint="Give the bundle's .tar or its extracted directory instead.")
    return BundleDoc(doc, top, label, secrets, form)


SECRETS = "site/secrets.env"


def _dir_secrets(top: Path) -> bytes | None:
    """An extracted bundle's site/secrets.env, checked against its MANIFEST.sha256 line when listed."""
    from .verify import MANIFEST
    f = top / SECRETS
    if not f.is_file():
        return None
    data = f.read_bytes()
    man = top / MANIFEST
    if man.is_file():
        for line in man.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split()
            if len(words) == 2 and words[1].lstrip("*") == SECRETS and \
                    words[0] != hashlib.sha256(data).hexdigest():
                raise InputError(f"{f} does not match its line in {man} (the file was changed after the "
                                 "build).", hint="Give the earlier bundle's .tar, or restore the secrets.env "
                                 "the site runs with.")
    return data


def _raw(path: Path) -> tuple[bytes, str | None, bytes | None, str]:
    from . import split
    from .verify import _check_manifest, _locate, scan_archive
    if path.is_file() and path.name.endswith(".json") and not path.name.endswith(split.INDEX_SUFFIX):
        env = path.parent / "bundle.env"
        top = None
        if env.is_file():
            for line in env.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("WCB_BUNDLE_ID="):
                    top = line.split("=", 1)[1].strip("'")
        return path.read_bytes(), top, None, "json"
    if not path.exists() and not split.index_path(path).is_file():
        raise InputError(f"{path}: no such file or directory.", hint=HINT)
    kind, path = _locate(path)
    if kind == "dir":
        top = path if (path / "bundle.json").is_file() else next(
            (p for p in sorted(path.iterdir()) if (p / "bundle.json").is_file()), None)
        if top is None:
            raise InputError(f"{path}: no bundle.json in this directory or the one below it; not a bundle.",
                             hint=HINT)
        return _raw(top / "bundle.json")[0], top.name, _dir_secrets(top), "dir"
    scan, name, _size = scan_archive(kind, path)
    _check_manifest(scan)              # every member, bundle.json included, matches MANIFEST.sha256
    raw = scan.small.get("bundle.json")
    if raw is None:
        raise InputError(f"{name}: {scan.top}/bundle.json is missing; this is not a wcbundle bundle.", hint=HINT)
    return raw, scan.top, scan.small.get(SECRETS), kind


# -- the diff --------------------------------------------------------------------

def _sha(p: dict) -> str:
    return str(p.get("checksum", "")).partition(":")[2]


def _evr(p: dict) -> tuple[int, str, str]:
    return int(p.get("epoch") or 0), str(p["version"]), str(p["release"])


def _vr(p: dict) -> str:
    return (f"{p['epoch']}:" if int(p.get("epoch") or 0) else "") + f"{p['version']}-{p['release']}"


def diff_locks(old: dict, new: dict) -> dict[str, Any]:
    """Per role: added, removed, upgraded, downgraded and rebuilt (same EVR, other bytes) packages with
    their sizes; then what an update from `old` to `new` carries."""
    roles_out: dict[str, Any] = {}
    # then the joint jobs ("a+b": roles one host holds, solved together; docs/design.md section 3) both
    # locks have (a lock from before joint jobs, or of another site, has other ones: no "removed" noise)
    joint = sorted(set(old.get("joint") or {}) & set(new.get("joint") or {}))
    for role in sorted(set(old.get("roles", {})) | set(new.get("roles", {}))) + joint:
        a = {(p["name"], p["arch"]): p for p in old["packages"] if role in p.get("roles", []) + p.get("joint", [])}
        b = {(p["name"], p["arch"]): p for p in new["packages"] if role in p.get("roles", []) + p.get("joint", [])}
        r: dict[str, list] = {"added": [], "removed": [], "upgraded": [], "downgraded": [], "rebuilt": []}
        for key in sorted(set(a) | set(b)):
            pa, pb = a.get(key), b.get(key)
            if pa is None:
                r["added"].append({"nevra": nevra_of(pb), "size": int(pb.get("size") or 0)})
            elif pb is None:
                r["removed"].append({"nevra": nevra_of(pa), "size": int(pa.get("size") or 0)})
            elif _sha(pa) != _sha(pb):
                c = evr_cmp(_evr(pb), _evr(pa))
                kind = "upgraded" if c > 0 else "downgraded" if c < 0 else "rebuilt"
                r[kind].append({"name": key[0], "arch": key[1], "from": _vr(pa), "to": _vr(pb),
                                "size": int(pb.get("size") or 0), "old_size": int(pa.get("size") or 0)})
        r["unchanged"] = sum(1 for k in set(a) & set(b) if _sha(a[k]) == _sha(b[k]))
        roles_out[role] = r
    shas = {_sha(p) for p in old["packages"]}
    carried = sorted((p for p in new["packages"] if _sha(p) not in shas), key=lambda p: (p["name"], p["arch"]))
    return {"roles": roles_out,
            "carried": {"packages": [nevra_of(p) for p in carried],
                        "bytes": sum(int(p.get("size") or 0) for p in carried)},
            "old": {"el": old.get("el"), "packages": len(old["packages"])},
            "new": {"el": new.get("el"), "packages": len(new["packages"])}}


def diff_changed(diff: dict) -> bool:
    return any(r[k] for r in diff["roles"].values() for k in ("added", "removed", "upgraded", "downgraded", "rebuilt"))


def render_diff(diff: dict, old_id: str = "OLD", new_id: str = "NEW") -> str:
    """The human view: one block per role, then the update's payload."""
    lines = [f"{old_id} -> {new_id}"]
    for role, r in diff["roles"].items():
        grow = sum(x["size"] for x in r["added"] + r["upgraded"] + r["downgraded"] + r["rebuilt"])
        lines.append(f"{role}: {len(r['upgraded'])} upgraded, {len(r['added'])} added, {len(r['removed'])} removed"
                     + (f", {len(r['downgraded'])} downgraded" if r["downgraded"] else "")
                     + (f", {len(r['rebuilt'])} rebuilt" if r["rebuilt"] else "")
                     + f", {r['unchanged']} unchanged ({human_size(grow)} of new RPMs)")
        for x in r["upgraded"] + r["downgraded"] + r["rebuilt"]:
            lines.append(f"  ~ {x['name']}.{x['arch']} {x['from']} -> {x['to']} ({human_size(x['size'])})")
        for x in r["added"]:
            lines.append(f"  + {x['nevra']} ({human_size(x['size'])})")
        for x in r["removed"]:
            lines.append(f"  - {x['nevra']} ({human_size(x['size'])})")
    c = diff["carried"]
    lines.append(f"An update from {old_id} carries {len(c['packages'])} package(s), {human_size(c['bytes'])} "
                 "(the RPMs whose sha256 the earlier bundle does not have).")
    return "\n".join(lines) + "\n"
