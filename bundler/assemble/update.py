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
    # OLD's site/secrets.env, byte for byte (base_secrets): the update's own; never printed
    secrets: bytes | None = field(default=None, repr=False)

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


def base_secrets(old: BundleDoc, site: Any) -> bytes | None:
    """The site/secrets.env an update of `old` carries: OLD's own, byte for byte (None without --site).

    The running site's database passwords, SST password, RabbitMQ passwords and Erlang cookie are the
    ones OLD installed; a fresh secrets.env would make the update's `install.sh --upgrade` log in to its
    peers with passwords they refuse, and a plain install of it rotate the cluster's secrets. A secret
    fixed in site.yaml (secrets:) must equal OLD's: a differing one is refused (exit 3) naming the key,
    never a value; rotating a secret is a change of its own, not a side effect of an update.
    InputError (exit 3) when OLD cannot supply them: a bare bundle.json, or a bundle without secrets.env."""
    if site is None:
        return None
    from ..site.model import SECRET_KEYS, parse_site_env, schema_problem
    if old.form == "json":
        raise InputError(f"{old.label} is a bundle.json alone: it does not hold the site's secrets "
                         f"(site/secrets.env), and an update of site '{site.name}' must carry the ones the site "
                         "runs with (its database and RabbitMQ passwords, its Erlang cookie).",
                         hint="Give --since the earlier bundle itself: its .tar, its .parts.json, or its extracted "
                              "directory (the one the site was installed from).")
    where = f"{old.label}: site/secrets.env"
    if old.secrets is None:
        raise InputError(f"{old.label} ({old.bundle_id}) holds no site/secrets.env, so this update cannot carry "
                         f"the secrets site '{site.name}' runs with.",
                         hint="Give --since the bundle the site was installed from; an extracted directory "
                              "needs its site/secrets.env (mode 0600) in place.")
    try:
        env = parse_site_env(old.secrets.decode("utf-8"), path=where)
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text; it is not a secrets.env written by wcbundle.",
                         hint="Give --since the bundle the site was installed from.") from None
    want = ["WCB_" + n.upper() for n in SECRET_KEYS]
    problems = [f"{k}: not a secrets.env key" for k in env if k not in want]
    problems += [f"{k}: missing" for k in want if k not in env]
    problems += [f"{k}: {why}" for k in want if k in env and (why := schema_problem(k, env[k]))]
    if problems:
        raise InputError(f"{where} is not a valid secrets file ({'; '.join(problems)}).",
                         hint="Give --since the bundle the site was installed from.")
    differ = [k for k, n in zip(want, SECRET_KEYS)
              if getattr(site.secrets, n) is not None and getattr(site.secrets, n) != env[k]]
    if differ:
        raise InputError(f"the site file fixes {', '.join(differ)} (secrets:) to a value other than the one "
                         f"{old.bundle_id} installed; an update carries the secrets of the bundle it updates, "
                         "and would otherwise change them on a running cluster.",
                         hint="Remove those keys from site.yaml's secrets: (or set them to the installed "
                              "values). Rotate a secret on the running site as a change of its own.")
    return old.secrets


def make_update(old: BundleDoc, new_lock: dict, site: Any = None) -> Update:
    digest = lock_sha256(old.lock)
    base = {"bundle_id": old.bundle_id, "lock_sha256": digest,
            "el": int(old.lock["el"]), "arch": old.lock["arch"], "site": old.site,
            "kind": (old.doc.get("build") or {}).get("kind", "full")}
    return Update(base=base, old_shas={_sha(p) for p in old.lock["packages"]},
                  diff=diff_locks(old.lock, new_lock), secrets=base_secrets(old, site))
