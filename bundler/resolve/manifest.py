"""The manifest model: repos, pins, roles and the RabbitMQ/Erlang table, per EL version.

Plain dataclasses loaded through bundler.core.schema (unknown keys and wrong types
name the file, line and key path). `load_manifest()` also checks what the
schema cannot: references between sections, and that the pinned RabbitMQ and
Erlang versions fit the compatibility table, so a bad manifest fails before
anything is downloaded (CompatError, exit 4).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import sys
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from ..core import paths
from ..core.errors import CompatError, ManifestError


def normalize_fingerprint(text: str) -> str:
    """'0A9A F211 ...' or '0x0a9af211...' -> 40 upper-case hex digits (or '' when it is not one)."""
    fpr = re.sub(r"\s+", "", str(text)).upper()
    fpr = fpr[2:] if fpr.startswith("0X") else fpr
    return fpr if re.fullmatch(r"[0-9A-F]{40}", fpr) else ""


def check_fingerprints(values: list[str], where: str) -> list[str]:
    out = []
    for v in values:
        fpr = normalize_fingerprint(v)
        if not fpr:
            raise ValueError(f"{where}: fingerprint {v!r} is not a full OpenPGP v4 fingerprint (40 hex digits; "
                             "a short key id is not a pin)")
        if fpr not in out:
            out.append(fpr)
    return out


def normalize_key_pin(text: str) -> str:
    """A metadata key pin: a full fingerprint, or a 16-hex (64-bit) key id -> upper-case hex, or ''."""
    fpr = normalize_fingerprint(text)
    if fpr:
        return fpr
    kid = re.sub(r"\s+", "", str(text)).upper()
    kid = kid[2:] if kid.startswith("0X") else kid
    return kid if re.fullmatch(r"[0-9A-F]{16}", kid) else ""


def pin_matches(fpr: str, pins: list[str]) -> bool:
    """Whether a primary key fingerprint is pinned: equal to a full pin, or ending in a 16-hex key id
    (an OpenPGP v4 key id is the last 16 hex digits of its fingerprint)."""
    fpr = fpr.upper()
    return any(fpr == p or (len(p) == 16 and fpr.endswith(p)) for p in pins)


def pin_label(pin: str, spaced: bool = False) -> str:
    """A pin as messages print it: the fingerprint, or 'key id ...' for a 16-hex id (64 bits only)."""
    text = " ".join(pin[i:i + 4] for i in range(0, len(pin), 4)) if spaced else pin
    return text if len(pin) == 40 else f"key id {text}"


def metadata_keys_of(src) -> tuple[list[str], list[str]]:
    """(key URLs, pins) that a repo's repomd.xml.asc is checked against: its metadata-gpgkeys/-pins
    when given, else its package keys (`src`: a RepoConf or a sources.Source)."""
    if src.metadata_gpgkeys:
        return list(src.metadata_gpgkeys), list(src.metadata_pins)
    return list(src.gpgkeys), list(src.fingerprints)


@dataclass
class RepoConf:
    id: str
    baseurls: list[str]
    name: str = ""
    gpgkeys: list[str] = field(default_factory=list)
    priority: int = 99  # dnf semantics: the lower number wins
    module_hotfixes: bool = field(default=False, metadata={"key": "module-hotfixes"})
    includepkgs: list[str] = field(default_factory=list)
    excludepkgs: list[str] = field(default_factory=list)
    # The full (40 hex) fingerprints of the keys its gpgkeys may hold; a key not listed is never trusted.
    fingerprints: list[str] = field(default_factory=list)
    # Check repodata/repomd.xml.asc against the pinned keys (dnf's repo_gpgcheck).
    repo_gpgcheck: bool = field(default=False, metadata={"key": "repo-gpgcheck"})
    # Where the vendor signs its metadata with another key than its packages (the RabbitMQ team's
    # Cloudsmith repos): the key URLs repomd.xml.asc is checked against, and their pins. Packages are
    # then checked against gpgkeys/fingerprints alone. A metadata pin is a full fingerprint, or a
    # 16-hex key id where the vendor publishes no more (weaker; `wcbundle sources` says so).
    metadata_gpgkeys: list[str] = field(default_factory=list, metadata={"key": "metadata-gpgkeys"})
    metadata_pins: list[str] = field(default_factory=list, metadata={"key": "metadata-pins"})

    def validate(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", self.id):
            raise ValueError(f"invalid repo id {self.id!r} (letters, digits, '_.:-' only)")
        if not self.baseurls:
            raise ValueError(f"repo '{self.id}' has no baseurls")
        for url in self.baseurls + self.gpgkeys:
            if not re.match(r"(https?|file)://", url):
                raise ValueError(f"repo '{self.id}': {url!r} is not an http(s):// or file:// URL")
        self.fingerprints = check_fingerprints(self.fingerprints, f"repo '{self.id}'")
        if self.repo_gpgcheck and not self.gpgkeys:
            raise ValueError(f"repo '{self.id}' has repo-gpgcheck but no gpgkeys to check repomd.xml.asc with")
        for url in self.metadata_gpgkeys:
            if not re.match(r"(https?|file)://", url):
                raise ValueError(f"repo '{self.id}': metadata-gpgkeys {url!r} is not an http(s):// or file:// URL")
        pins = []
        for v in self.metadata_pins:
            pin = normalize_key_pin(v)
            if not pin:
                raise ValueError(f"repo '{self.id}': metadata-pins {v!r} is neither a full fingerprint (40 hex "
                                 "digits) nor a 64-bit key id (16 hex digits)")
            pins += [pin] if pin not in pins else []
        self.metadata_pins = pins
        if bool(self.metadata_gpgkeys) != bool(self.metadata_pins):
            raise ValueError(f"repo '{self.id}': metadata-gpgkeys and metadata-pins go together (the keys that "
                             "sign repomd.xml, and what each must be)")
        if self.metadata_gpgkeys and not self.repo_gpgcheck:
            raise ValueError(f"repo '{self.id}' has metadata-gpgkeys but not repo-gpgcheck: true")

    def metadata_keys(self) -> tuple[list[str], list[str]]:
        return metadata_keys_of(self)

    def admits(self, name: str) -> bool:
        """includepkgs/excludepkgs as yum/dnf apply them to this repo."""
        if self.includepkgs and not any(fnmatch.fnmatchcase(name, g) for g in self.includepkgs):
            return False
        return not any(fnmatch.fnmatchcase(name, g) for g in self.excludepkgs)


@dataclass
class DirectRpm:
    """A package a vendor publishes only as a release file (no repo).

    resolve.py downloads it (sha256-verified) into the package cache, solves with it as a
    repo of its own (`direct-<name>` in the lock, baseurl = the URL's directory) and requests
    it, by name, for each of `roles`; its signature is checked against `gpgkey` like any repo's.
    """

    url: str
    roles: list[str]
    gpgkey: list[str]
    sha256: str = ""        # when the vendor publishes none: pinned by `fingerprints` alone
    fingerprints: list[str] = field(default_factory=list)
    size: int = 0           # bytes, when known: `wcbundle sources --check` compares it
    # A source id: `--repo ID=URL` then names a yum repo (an internal mirror) that replaces the download,
    # keeping this entry's gpgkey and fingerprints.
    id: str = ""

    def validate(self) -> None:
        if self.sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"sha256 of {self.url} is not 64 lower-case hex digits")
        self.fingerprints = check_fingerprints(self.fingerprints, f"direct RPM {self.url}")
        if not self.sha256 and not self.fingerprints:
            raise ValueError(f"direct RPM {self.url} has neither a sha256 nor key fingerprints: pin it by one "
                             "of them (fingerprints: the full fingerprint of the key that signs it)")
        if self.size < 0:
            raise ValueError(f"size of {self.url} is negative")
        if not re.match(r"(https?|file)://[^?#]*\.rpm$", self.url):
            raise ValueError(f"{self.url} is not an http(s):// or file:// URL of an .rpm file")
        if not self.roles:
            raise ValueError(f"direct RPM {self.url} names no roles")
        if not self.gpgkey:
            raise ValueError(f"direct RPM {self.url} has no gpgkey (its signature is checked like any other)")
        for url in self.gpgkey:
            if not re.match(r"(https?|file)://", url):
                raise ValueError(f"direct RPM {self.url}: gpgkey {url!r} is not an http(s):// or file:// URL")


@dataclass
class ModuleConf:
    enable: list[str] = field(default_factory=list)   # "name:stream"
    disable: list[str] = field(default_factory=list)  # module names

    def validate(self) -> None:
        for spec in self.enable:
            if not re.fullmatch(r"[^:\s]+:[^:\s]+", spec):
                raise ValueError(f"modules.enable entry {spec!r} must be NAME:STREAM")


@dataclass
class ElConf:
    base_repo: str = field(metadata={"key": "base-repo"})
    repos: list[RepoConf]
    pins: dict[str, str] = field(default_factory=dict)
    modules: ModuleConf = field(default_factory=ModuleConf)
    extras: dict[str, list[str]] = field(default_factory=dict)  # role -> packages on this EL only
    direct_rpms: list[DirectRpm] = field(default_factory=list, metadata={"key": "direct-rpms"})

    def validate(self) -> None:
        urls = [d.url for d in self.direct_rpms]
        dup_urls = {u for u in urls if urls.count(u) > 1}
        if dup_urls:
            raise ValueError(f"direct-rpms: listed twice: {', '.join(sorted(dup_urls))}")
        ids = [r.id for r in self.repos] + [d.id for d in self.direct_rpms if d.id]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate repo id(s): {', '.join(sorted(dup))}")
        if self.base_repo not in ids:
            raise ValueError(f"base-repo '{self.base_repo}' is not one of the repos ({', '.join(ids)})")

    def repo(self, repo_id: str) -> RepoConf | None:
        """A repo of this EL by id; a direct RPM's id gives the repo that stands in for it."""
        found = next((r for r in self.repos if r.id == repo_id), None)
        if found is None:
            d = next((d for d in self.direct_rpms if d.id and d.id == repo_id), None)
            if d is not None:
                found = RepoConf(id=d.id, baseurls=[d.url.rsplit("/", 1)[0] + "/"], name=f"direct RPM {d.url}",
                                 gpgkeys=list(d.gpgkey), fingerprints=list(d.fingerprints))
        return found

    def source_ids(self) -> list[str]:
        """Every id `--repo ID=URL` may name on this EL: repos and direct RPMs with an id."""
        return [r.id for r in self.repos] + [d.id for d in self.direct_rpms if d.id]


@dataclass
class Role:
    packages: list[str]
    description: str = ""
    extras: list[str] = field(default_factory=list)  # runtime needs the metadata does not state


@dataclass
class CompatRow:
    rabbitmq_min: str = field(metadata={"key": "rabbitmq-min"})
    rabbitmq_max: str = field(metadata={"key": "rabbitmq-max"})
    erlang_min: str = field(metadata={"key": "erlang-min"})
    erlang_max: str = field(metadata={"key": "erlang-max"})


@dataclass
class Manifest:
    name: str
    roles: dict[str, Role]
    el: dict[str, ElConf]
    weak_deps: bool = field(default=False, metadata={"key": "weak-deps"})
    metadata_expire: int = field(default=21600, metadata={"key": "metadata-expire"})
    pin_packages: dict[str, list[str]] = field(default_factory=dict, metadata={"key": "pin-packages"})
    compat: list[CompatRow] = field(default_factory=list, metadata={"key": "rabbitmq-erlang-compat"})
    path: str = field(default="", init=False)
    sha256: str = field(default="", init=False)

    def validate(self) -> None:
        for ver, conf in self.el.items():
            if ver not in ("7", "8", "9"):
                raise ValueError(f"el: '{ver}' is not an EL version this tool knows (7, 8, 9)")
            for pin in conf.pins:
                if pin not in self.pin_packages:
                    raise ValueError(f"el.{ver}.pins: '{pin}' has no entry in pin-packages")
            for role in list(conf.extras) + [r for d in conf.direct_rpms for r in d.roles]:
                if role not in self.roles:
                    raise ValueError(f"el.{ver}: role '{role}' is not defined under roles")

    def for_el(self, el: int) -> ElConf:
        conf = self.el.get(str(el))
        if conf is None:
            raise ManifestError(f"the manifest has no section for EL{el}", path=self.path, key=f"el.{el}",
                                hint=f"Known EL versions in it: {', '.join(sorted(self.el))}.")
        return conf

    def role_packages(self, role: str, el: int) -> list[str]:
        """The names a role requests on an EL version: packages + extras (shared and per-EL)."""
        spec = self.roles[role]
        extra = self.for_el(el).extras.get(role, [])
        out: list[str] = []
        for name in spec.packages + spec.extras + extra:
            if name not in out:
                out.append(name)
        return out

    def pin_for(self, name: str, el: int) -> tuple[str, str] | None:
        """(pin name, version prefix) constraining package `name` on `el`, if any."""
        pins = self.for_el(el).pins
        for pin, globs in self.pin_packages.items():
            if pin in pins and any(fnmatch.fnmatchcase(name, g) for g in globs):
                return pin, pins[pin]
        return None


    def effective_repos(self, sel) -> list[RepoConf]:
        """The repos of a run (sel: resolve.Selection): the manifest's, or the --repo overrides,
        where a known id keeps its manifest options and only the URL changes."""
        conf = self.for_el(sel.el)
        if not sel.repos:
            out = list(conf.repos)
        else:
            out = []
            for rid, url in sel.repos.items():
                known = conf.repo(rid)
                out.append(replace(known, baseurls=[url]) if known else RepoConf(id=rid, baseurls=[url]))
        out = [replace(r, gpgkeys=sel.gpgkeys[r.id]) if r.id in sel.gpgkeys else r for r in out]
        # --key-fingerprint ID=FPR replaces the manifest's pins of that repo (a --gpgkey alone keeps them:
        # an internal mirror's copy of the vendor key must still be the vendor key). Such a repo is signed
        # with your own key: its metadata too, so the manifest's metadata keys (metadata-gpgkeys) go with it.
        pins = getattr(sel, "fingerprints", None) or {}
        return [replace(r, fingerprints=list(pins[r.id]), metadata_gpgkeys=[], metadata_pins=[])
                if r.id in pins else r for r in out]

    def role_requests(self, sel) -> dict[str, list[str]]:
        """role -> requested names: --install as one role 'custom', else the selected roles."""
        if sel.installs:
            return {"custom": list(dict.fromkeys(sel.installs))}
        names = sel.roles or sorted(self.roles)
        unknown = [r for r in names if r not in self.roles]
        if unknown:
            from ..core.errors import InputError
            raise InputError(f"unknown role(s): {', '.join(unknown)}",
                             hint=f"Roles in {self.path}: {', '.join(sorted(self.roles))}.")
        return {r: self.role_packages(r, sel.el) for r in names}

    def pin_regex(self, el: int) -> re.Pattern | None:
        """One compiled pattern matching every name some pin of `el` constrains (fast pre-check)."""
        pins = self.for_el(el).pins
        globs = [g for pin, gs in self.pin_packages.items() if pin in pins for g in gs]
        return re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None


def load_manifest(path: Path | None = None, cache_dir: Path | None = None) -> Manifest:
    """Load and check a manifest (default: the embedded workcenter.yaml).

    With cache_dir, the parsed model is kept as JSON keyed by the file's sha256 (and this
    module's mtime), so a warm resolve does not import PyYAML at all. JSON, not pickle:
    whoever can write the cache directory must not run code in the next resolve. A cache
    file is rebuilt field by field against the dataclasses' types and re-validated; any
    mismatch just means the manifest is parsed again.
    """
    path = Path(path) if path else paths.DEFAULT_MANIFEST
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest: {exc.strerror}", path=str(path),
                            hint="Check the --manifest path.") from None
    sha = hashlib.sha256(raw).hexdigest()
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / "manifest" / f"{sha[:32]}-{os.stat(__file__).st_mtime_ns}.json"
        man = _load_cached(cached, sha)
        if man is not None:
            man.path = str(path)
            return man
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"the manifest is not UTF-8 text (byte {exc.start})", path=str(path)) from None
    from ..core.schema import load_yaml_as  # PyYAML: only when the manifest really has to be parsed
    man = load_yaml_as(Manifest, path, ManifestError, text=text)
    man.path = str(path)
    man.sha256 = sha
    for ver in sorted(man.el):
        check_compat(man, int(ver))
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(cached.name + f".{os.getpid()}")
            tmp.write_text(json.dumps({"sha256": sha, "manifest": asdict(man)}))
            os.replace(tmp, cached)
        except OSError:
            pass  # an unwritable cache only costs speed
    return man


class _Stale(Exception):
    """A cache file that does not fit the model (another version, or edited): parse again."""


def _from_plain(tp, value):
    """JSON value -> an instance of the type hint tp (the manifest's dataclasses), checked strictly."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Stale(tp)
        hints = typing.get_type_hints(tp, vars(sys.modules[tp.__module__]))
        init = {f.name for f in fields(tp) if f.init}
        if set(value) != {f.name for f in fields(tp)}:
            raise _Stale(tp)
        obj = tp(**{k: _from_plain(hints[k], v) for k, v in value.items() if k in init})
        for k in set(value) - init:
            setattr(obj, k, _from_plain(hints[k], value[k]))
        check = getattr(obj, "validate", None)
        if callable(check):
            check()
        return obj
    if origin is list:
        if not isinstance(value, list):
            raise _Stale(tp)
        return [_from_plain(args[0], v) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Stale(tp)
        return {k: _from_plain(args[1], v) for k, v in value.items()}
    if tp in (str, int, bool) and type(value) is tp:
        return value
    raise _Stale(tp)


def _load_cached(path: Path, sha: str) -> Manifest | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("sha256") != sha:
            return None
        man = _from_plain(Manifest, data.get("manifest"))
        if man.sha256 != sha:
            return None
        for ver in sorted(man.el):
            check_compat(man, int(ver))
    except (OSError, ValueError, TypeError, _Stale, CompatError, ManifestError):
        return None
    return man


# -- versions and the RabbitMQ/Erlang table ---------------------------------

def vparts(version: str) -> tuple[int, ...]:
    """'23.3.4.18' -> (23, 3, 4, 18); a trailing '.x' and non-numeric tails are dropped."""
    out = []
    for part in version.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


def series_overlaps(pin: str, lo: str, hi: str) -> bool:
    """Can some version starting with `pin` be >= lo and within series hi?"""
    p, low, high = vparts(pin), vparts(lo), vparts(hi)
    if p < low[:len(p)]:
        return False  # every version of the pinned series is below lo
    k = min(len(p), len(high))
    return p[:k] <= high[:k]


def version_in(version: str, lo: str, hi: str) -> bool:
    """Exact check of a resolved version against a table row (hi is a series)."""
    v, low, high = vparts(version), vparts(lo), vparts(hi)
    return v >= low and v[:len(high)] <= high


def check_compat(man: Manifest, el: int) -> None:
    """The EL's rabbitmq and erlang pins must share a row of the table."""
    pins = man.for_el(el).pins
    rmq, erl = pins.get("rabbitmq"), pins.get("erlang")
    if not (rmq and erl and man.compat):
        return
    for row in man.compat:
        if series_overlaps(rmq, row.rabbitmq_min, row.rabbitmq_max) and \
                series_overlaps(erl, row.erlang_min, row.erlang_max):
            return
    raise CompatError(
        f"{man.path}: EL{el} pins RabbitMQ {rmq} with Erlang {erl}, which no row of "
        "rabbitmq-erlang-compat allows (rabbitmq-website docs/which-erlang.md). Nothing was downloaded.",
        hint=f"Change el.{el}.pins so both fit one row of the table.")


def check_resolved_compat(man: Manifest, el: int, rabbitmq: str, erlang: str) -> None:
    """After the solve: the exact versions picked must fit one row."""
    if not man.compat:
        return
    if any(version_in(rabbitmq, r.rabbitmq_min, r.rabbitmq_max) and version_in(erlang, r.erlang_min, r.erlang_max)
           for r in man.compat):
        return
    raise CompatError(
        f"the solve for EL{el} picked rabbitmq-server {rabbitmq} with erlang {erlang}, which no row of "
        "the manifest's rabbitmq-erlang-compat allows. Nothing was downloaded.",
        hint=f"Tighten el.{el}.pins (rabbitmq/erlang) so the repos' newest builds fit.")
