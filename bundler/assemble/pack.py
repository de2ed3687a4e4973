"""The bundle: its tree (docs/design.md sections 4-5), bundle.json, bundle.env,
MANIFEST.sha256, and the deterministic tar with its .sha256 sidecar.

Owns the layout, nothing else: packages come verified from fetch.py, keys from
gpg.py, repodata from localrepo.py, and the site files, flow table, SBOM,
report and signature from their owners' modules (imported at the call site).

Atomicity: everything is built in a staging directory inside --out
(`.wcbundle-*`) and renamed into place at the end, so a failed or interrupted
build leaves no half-written bundle; a full disk becomes EnvironmentProblem
with the staging directory removed. The tar is one uncompressed stream (RPMs
are compressed already), members sorted, owner 0/0, mtime = build time, so the
same inputs and build time give the same bytes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..core import paths
from ..core.errors import EnvironmentProblem, IntegrityError
from ..core.fileutil import sha256_file
from ..lock import lock_as_dict
from ..site.model import BUNDLE_ENV_KEYS
from .localrepo import create_repo, modules_document

REPO_ID = "wcbundle"
MANIFEST = "MANIFEST.sha256"
SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:@,+-")
# Installed size is not in repo metadata we keep; RPM payloads expand about 3x (xz/gzip cpio).
INSTALLED_FACTOR = 3
# bundle.env keys per role, besides BUNDLE_ENV_KEYS (lib/env.sh allows exactly these prefixes)
ROLE_KEY_PREFIXES = ("WCB_ROLE_PACKAGES_", "WCB_ROLE_CLOSURE_")
PKG_NAME = re.compile(r"[A-Za-z0-9._+-]+")


@dataclass
class PackInput:
    lock: Any                                   # bundler.lock.Lock or its dict
    files: dict[str, Path]                      # checksum -> verified cache file (fetch_all)
    keys: dict[str, Any]                        # repo -> gpg.RepoKeys (files to ship in keys/)
    out_dir: Path
    fmt: str = "tar"                            # "tar" | "dir"
    site: Any = None                            # bundler.site.model.Site, or None
    sign_key: str | None = None
    signatures: dict = field(default_factory=dict)     # gpg.SignatureReport.to_dict()
    allow_unsigned: list[str] = field(default_factory=list)
    module_disable: list[str] = field(default_factory=list)
    build_time: datetime | None = None
    update: Any = None                          # bundler.assemble.update.Update (build --since), or None
    progress: Callable[[str], None] | None = None      # told each sub-step's name as it starts

    def step(self, name: str) -> None:
        if self.progress is not None:
            self.progress(name)


@dataclass
class PackResult:
    top: str
    path: Path                                  # the .tar, or the directory
    sha256: str | None                          # of the tar
    size: int                                   # bytes of the tar, or of the tree
    packages: int
    report: Path | None = None                  # report.html next to the tar


def build_time_now() -> datetime:
    """UTC now, or SOURCE_DATE_EPOCH (reproducible builds) when set."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.isdigit():
        return datetime.fromtimestamp(int(sde), tz=timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def top_name(name: str, el: int, arch: str, when: datetime, out_dir: Path) -> str:
    """`<name>-el<N>-<arch>-<YYYYMMDD>`, with `-<n>` when that is taken in out_dir."""
    base = f"{name}-el{el}-{arch}-{when.strftime('%Y%m%d')}"
    for n in range(1, 1000):
        top = base if n == 1 else f"{base}-{n}"
        if not any((out_dir / f"{top}{ext}").exists() for ext in ("", ".tar", ".tar.sha256")):
            return top
    raise EnvironmentProblem(f"{out_dir} already holds 999 bundles named {base}*.", hint="Clean it up.")


def builder_os() -> dict:
    info = {"system": platform.system(), "machine": platform.machine()}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, sep, val = line.partition("=")
            if sep and key in ("ID", "VERSION_ID", "PRETTY_NAME"):
                info[key.lower()] = val.strip().strip('"')
    except OSError:
        pass
    return info


def env_value(v: str) -> str:
    """bundle.env quoting (design section 5): single quotes around anything outside the safe set."""
    if set(v) <= SAFE:  # includes the empty value: KEY=
        return v
    if "'" in v or "\n" in v:
        raise IntegrityError(f"value {v!r} cannot be written to bundle.env safely.")
    return f"'{v}'"


def role_closure(d: dict, role: str) -> list[str]:
    """The sorted package names of ROLE's lock entries: what its own solve installs or upgrades on the
    target baseline. install.sh upgrades an installed package only when its name is in the closure of a
    role the host holds (the repo is one for all roles). For an update (build --since) `d` is the full
    new lock, so this is the role's whole closure, not only what the update carries."""
    names = sorted({p["name"] for p in d["packages"] if role in (p.get("roles") or [])})
    bad = [n for n in names if not PKG_NAME.fullmatch(n)]
    if bad:  # install.sh refuses such a word; a package name never holds one
        raise IntegrityError(f"role {role}'s closure holds {', '.join(map(repr, bad))}, not a package name "
                             "(letters, digits, '.', '_', '+', '-'): bundle.env cannot carry it.")
    return names


def render_bundle_env(d: dict, top: str, build: dict, module_disable: list[str], key_files: list[str],
                      base: dict | None = None) -> str:
    pkgs = {p["name"]: p for p in d["packages"]}
    ver = {k: (pkgs[n]["version"] if n in pkgs else "") for k, n in
           (("RABBITMQ", "rabbitmq-server"), ("ERLANG", "erlang"), ("MARIADB", "MariaDB-server"))}
    total = sum(int(p.get("size") or 0) for p in d["packages"])
    entries = [
        ("WCB_BUNDLE_NAME", d["manifest"].get("name", "")),
        ("WCB_BUNDLE_ID", top),
        ("WCB_TOOL_VERSION", __version__),
        ("WCB_BUILD_TIME", build["time"]),
        ("WCB_EL", str(d["el"])),
        ("WCB_ARCH", d["arch"]),
        ("WCB_PKG_MANAGER", "yum" if int(d["el"]) == 7 else "dnf"),
        ("WCB_REPO_ID", REPO_ID),
        ("WCB_GPG_KEYS", " ".join(key_files)),
        ("WCB_ROLES", " ".join(sorted(d["roles"]))),
    ]
    for role in sorted(d["roles"]):
        entries.append((f"WCB_ROLE_PACKAGES_{role.replace('-', '_')}",
                        " ".join(d["roles"][role].get("requested", []))))
    for role in sorted(d["roles"]):
        entries.append((f"WCB_ROLE_CLOSURE_{role.replace('-', '_')}", " ".join(role_closure(d, role))))
    entries += [
        ("WCB_MODULE_DISABLE", " ".join(module_disable) if int(d["el"]) == 8 else ""),
        ("WCB_RABBITMQ_VERSION", ver["RABBITMQ"]),
        ("WCB_ERLANG_VERSION", ver["ERLANG"]),
        ("WCB_MARIADB_VERSION", ver["MARIADB"]),
        ("WCB_REQUIRED_KB", str(total * INSTALLED_FACTOR // 1024 + 1)),
        ("WCB_SIGNED", "1" if build.get("signed") else "0"),
        ("WCB_SIGNER_FPR", build.get("signer_fpr") or ""),
        # issue 14: what the installer needs to add an update as one more repo (docs/design.md)
        ("WCB_LOCK_SHA256", build.get("lock_sha256") or ""),
        ("WCB_BUNDLE_KIND", "update" if base else "full"),
        ("WCB_BASE_BUNDLE_ID", (base or {}).get("bundle_id", "")),
        ("WCB_BASE_LOCK_SHA256", (base or {}).get("lock_sha256", "")),
    ]
    unknown = [k for k, _ in entries if k not in BUNDLE_ENV_KEYS and not k.startswith(ROLE_KEY_PREFIXES)]
    if unknown:  # a bug: install.sh would refuse the bundle
        raise IntegrityError(f"bundle.env keys {', '.join(unknown)} are not in site.BUNDLE_ENV_KEYS.")
    head = (f"# bundle.env: facts about {top}, generated by wcbundle {__version__}; read by install.sh.\n"
            "# Do not edit: MANIFEST.sha256 covers this file.\n")
    return head + "".join(f"{k}={env_value(v)}\n" for k, v in entries)


# -- the steps ------------------------------------------------------------------

def _copy_installer(tree: Path) -> None:
    src = paths.INSTALLER
    if not src.is_dir():
        raise EnvironmentProblem(f"the installer files are missing from {src}.",
                                 hint="Reinstall wcbundle (pip install -e .) from a complete checkout.")
    for entry in sorted(src.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, tree / entry.name, symlinks=False)
        else:
            shutil.copy2(entry, tree / entry.name)
    # the installer's site checks, generated from the builder's one schema (bundler/site/model.py)
    from ..site.model import render_schema_sh
    (tree / "lib" / "site_schema.sh").write_text(render_schema_sh(), encoding="utf-8")
    # and the role registry, generated from the one role table (bundler/site/roles.py)
    from ..site.roles import render_registry_sh
    (tree / "lib" / "roles_registry.sh").write_text(render_registry_sh(), encoding="utf-8")


def copy_or_link(src: Path, dest: Path) -> None:
    """Hard-link a cache file into the tree (each RPM stored once on disk), or copy it across
    filesystems. A later edit of a hard-linked bundle file is caught by fetch's re-hash of the cache."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _place_rpms(tree: Path, d: dict, files: dict[str, Path]) -> None:
    pkgdir = tree / "repo" / "Packages"
    pkgdir.mkdir(parents=True)
    seen: dict[str, str] = {}
    for p in d["packages"]:
        fname = p["location"].rsplit("/", 1)[-1]
        if fname in seen:
            if seen[fname] == p["checksum"]:
                continue  # the same bytes listed twice: stored once
            raise IntegrityError(f"two different packages in the lock share the file name {fname}.",
                                 hint="Re-resolve; a lock lists each package once.")
        seen[fname] = p["checksum"]
        src = files.get(p["checksum"])
        if src is None:
            raise IntegrityError(f"{fname} was not fetched (no cache file for {p['checksum']}).")
        copy_or_link(src, pkgdir / fname)


def _keys(tree: Path, keys: dict[str, Any]) -> list[str]:
    kdir = tree / "keys"
    kdir.mkdir()
    rels = []
    for repo in sorted(keys):
        for f in keys[repo].files:
            shutil.copyfile(f, kdir / Path(f).name)
            os.chmod(kdir / Path(f).name, 0o644)
            rels.append(f"keys/{Path(f).name}")
    return rels


def _site(tree: Path, site: Any, update: Any = None) -> None:
    from ..site.flows import write_flows_tsv
    write_flows_tsv(tree / "site" / "flows.tsv")
    if site is not None:
        from ..site.model import write_site_files
        # an update (build --since) carries its base's secrets.env byte for byte (assemble/update.py)
        write_site_files(site, tree / "site", tree, secrets_env=update.secrets if update is not None else None)
        # the site as an Ansible inventory + playbooks (issue 15); the tree's name is the bundle id
        from ..site.fleet import write_ansible
        write_ansible(site, tree / "site" / "ansible", bundle_id=tree.name)


def write_manifest(tree: Path, known: dict[str, str]) -> None:
    """MANIFEST.sha256 over every file but itself and its signature; `known` = relpath -> hex
    for files already verified (the RPMs), so they are not hashed a second time."""
    lines = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(tree).as_posix()
        if rel in (MANIFEST, MANIFEST + ".asc"):
            continue
        if path.is_symlink():
            raise IntegrityError(f"the bundle tree holds a symlink ({rel}); bundles carry plain files only.")
        lines.append(f"{known.get(rel) or sha256_file(path)}  {rel}\n")
    (tree / MANIFEST).write_text("".join(lines))


class _HashingFile:
    """A write-only file object that hashes what passes through (the tar is never re-read)."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b: bytes) -> int:
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)


def _normal_mode(mode: int, is_dir: bool) -> int:
    """Modes independent of the builder's umask: dirs 0755, private files (secrets.env) 0600,
    executables 0755, the rest 0644. No setuid/setgid/sticky bit ever."""
    if is_dir:
        return 0o755
    if mode & 0o077 == 0:
        return 0o600
    return 0o755 if mode & 0o100 else 0o644


def write_tar(tree: Path, dest: Path, mtime: int) -> tuple[str, int]:
    """Deterministic uncompressed tar of tree (members under tree.name/); returns (sha256, size)."""
    entries = [tree] + sorted(tree.rglob("*"), key=lambda p: p.relative_to(tree).parts)
    # A bundle that carries site/secrets.env is itself a secret: readable by its owner only.
    mode = 0o600 if (tree / "site" / "secrets.env").exists() else 0o644
    with open(dest, "wb", opener=lambda path, flags: os.open(path, flags, mode)) as raw:
        os.fchmod(raw.fileno(), mode)   # whatever the umask or an earlier file said
        hf = _HashingFile(raw)
        with tarfile.open(fileobj=hf, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for p in entries:
                arc = (Path(tree.name) / p.relative_to(tree)).as_posix() if p != tree else tree.name
                ti = tar.gettarinfo(str(p), arcname=arc)
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = "root"
                ti.mtime = mtime
                ti.mode = _normal_mode(ti.mode, ti.isdir())
                if ti.isreg():
                    with open(p, "rb") as f:
                        tar.addfile(ti, f)
                else:
                    tar.addfile(ti)
        raw.flush()
        os.fsync(raw.fileno())
    return hf.h.hexdigest(), hf.n


def _build_info(inp: PackInput, d: dict, when: datetime, signer_fpr: str, top: str) -> dict:
    from ..carry.diff import lock_sha256
    host = builder_os()
    return {"tool": "wcbundle", "tool_version": __version__, "time": iso(when),
            "bundle_id": top, "kind": "update" if inp.update is not None else "full",
            "lock_sha256": lock_sha256(d),
            "builder_os": host, "host": host.get("pretty_name", host["system"]),
            "manifest": d.get("manifest", {}), "manifest_sha256": d.get("manifest", {}).get("sha256", ""),
            "allow_unsigned": sorted(inp.allow_unsigned), "signatures": inp.signatures,
            "format": inp.fmt, "signed": bool(inp.sign_key), "signer_fpr": signer_fpr}


@dataclass
class Staging:
    """The build directory of one bundle: `.wcbundle-*` inside --out, removed when the build ends."""

    dir: Path
    top: str
    when: datetime
    d: dict                                     # the lock in its JSON shape
    shipped: dict                               # d, or for an update only the packages it carries

    @property
    def tree(self) -> Path:
        return self.dir / self.top


@contextmanager
def staging(inp: PackInput) -> Iterator[Staging]:
    """Make the staging directory; on leaving, remove it (nothing is left behind if a step fails)
    and turn an OSError of any step inside into an EnvironmentProblem (full disk, permissions)."""
    d = lock_as_dict(inp.lock)
    when = inp.build_time or build_time_now()
    out = Path(inp.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".wcbundle-", dir=out))
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write to the output directory {out}: {exc.strerror}.",
                                 hint="Pass a writable --out DIR.") from None
    name = d["manifest"].get("name") or "bundle"
    top = top_name(f"{name}-update" if inp.update is not None else name, int(d["el"]), d["arch"], when, out)
    # an update (build --since) ships only the packages the earlier bundle does not have
    shipped = inp.update.carried(d) if inp.update is not None else d
    try:
        yield Staging(tmp, top, when, d, shipped)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EnvironmentProblem(f"no space left in {out} while writing the bundle {top}; nothing was "
                                     "left behind.", hint="Free some space or pass --out on a larger disk.") \
                from None
        raise EnvironmentProblem(f"cannot write the bundle {top} into {out}: {exc}.",
                                 hint="Check the --out directory's permissions and free space.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def place_packages(inp: PackInput, st: Staging) -> None:
    """The localrepo step, first half: every verified RPM into repo/Packages (hard links)."""
    st.tree.mkdir()
    inp.step("packages")
    _place_rpms(st.tree, st.shipped, inp.files)


def index_repo(inp: PackInput, st: Staging) -> None:
    """The localrepo step, second half: createrepo_c (+ module metadata on EL8/9), timestamps = build time."""
    inp.step("repo")
    create_repo(st.tree / "repo", int(st.d["el"]), modules_document(st.shipped), revision=int(st.when.timestamp()))


def _fill_tree(inp: PackInput, st: Staging) -> dict:
    """Everything else the tree holds, each a visible sub-step; returns the build info."""
    d, tree, top, when = st.d, st.tree, st.top, st.when
    inp.step("tree")
    _copy_installer(tree)
    key_files = _keys(tree, inp.keys)
    signer_fpr = ""
    if inp.sign_key:  # the signer's public key ships inside (keys/wcbundle-signer.gpg); trust is the fpr
        from ..carry.sign import SIGNER_KEY, export_public_key
        signer_fpr = export_public_key(inp.sign_key, tree / SIGNER_KEY)
    _site(tree, inp.site, inp.update)
    build = _build_info(inp, d, when, signer_fpr, top)
    site_summary = inp.site.summary() if inp.site is not None else None
    doc: dict[str, Any] = {"lock": d, "build": build, "site": site_summary}
    base = None
    if inp.update is not None:   # build --since: the base, and the diff the report shows
        base = doc["base"] = inp.update.base
        doc["update"] = {"carried": list(inp.update.diff["carried"]["packages"]),
                         "carried_bytes": inp.update.diff["carried"]["bytes"], "diff": inp.update.diff}
    (tree / "bundle.json").write_text(json.dumps(doc, indent=2) + "\n")
    (tree / "bundle.env").write_text(render_bundle_env(d, top, build, inp.module_disable, key_files, base))
    inp.step("sbom")
    from .sbom import write_sbom
    write_sbom(st.shipped if inp.update is not None else inp.lock, tree / "repo", tree / "sbom.spdx.json", build)
    inp.step("report")
    from .report import write_report
    write_report(tree, tree / "report.html")
    inp.step("manifest")
    known = {f"repo/Packages/{p['location'].rsplit('/', 1)[-1]}": p["checksum"].split(":", 1)[1]
             for p in st.shipped["packages"]}
    write_manifest(tree, known)
    if inp.sign_key:
        inp.step("sign")
        from ..carry.sign import sign_file
        sign_file(tree / MANIFEST, inp.sign_key)
    return build


def pack(inp: PackInput) -> PackResult:
    """Build the bundle into inp.out_dir in one call: staging, the localrepo step (place_packages,
    index_repo) and the pack step (finish). bundler.pipeline runs the two steps separately, so the
    build's progress shows each; this is the same sequence for library callers and tests."""
    with staging(inp) as st:
        place_packages(inp, st)
        index_repo(inp, st)
        return finish(inp, st)


def _taken(dest: Path) -> EnvironmentProblem:
    return EnvironmentProblem(f"{dest} appeared while this build ran (another build into the same --out?); "
                              "nothing was overwritten.", hint="Run the build again: it takes the next free name.")


def _place(src: Path, dest: Path) -> None:
    """Move src to dest, never replacing an existing file (link + unlink, not rename)."""
    try:
        os.link(src, dest)
    except FileExistsError:
        raise _taken(dest) from None
    os.unlink(src)


def finish(inp: PackInput, st: Staging) -> PackResult:
    """The pack step: the rest of the tree (installer, keys, site files, bundle.json/env, SBOM, report,
    MANIFEST.sha256 and its signature), then the tar and its sidecar placed into --out."""
    staging, top, when, out = st.dir, st.top, st.when, Path(inp.out_dir)
    tree = st.tree
    _fill_tree(inp, st)
    npk = len({p["checksum"] for p in st.shipped["packages"]})
    if inp.fmt == "dir":
        if (out / top).exists():
            raise _taken(out / top)
        os.rename(tree, out / top)
        size = sum(p.stat().st_size for p in (out / top).rglob("*") if p.is_file())
        return PackResult(top, out / top, None, size, npk)
    tmp_tar = staging / f"{top}.tar"
    inp.step("tar")
    digest, size = write_tar(tree, tmp_tar, int(when.timestamp()))
    (staging / f"{top}.tar.sha256").write_text(f"{digest}  {top}.tar\n")
    moves = [f"{top}.tar.sha256", f"{top}.report.html"]
    if inp.sign_key:
        from ..carry.sign import sign_file
        inp.step("sign")
        sign_file(staging / f"{top}.tar.sha256", inp.sign_key)
        moves.append(f"{top}.tar.sha256.asc")
    shutil.copyfile(tree / "report.html", staging / f"{top}.report.html")
    placed: list[Path] = []
    try:
        # The sidecar, its signature and the report land first: a .tar in --out always has its .sha256.
        for name in [*moves, f"{top}.tar"]:
            _place(staging / name, out / name)
            placed.append(out / name)
    except BaseException:
        for path in placed:  # only our own files: never a concurrent build's
            path.unlink(missing_ok=True)
        raise
    return PackResult(top, out / f"{top}.tar", digest, size, npk, out / f"{top}.report.html")
