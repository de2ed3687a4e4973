"""Bundle verification, inspection and safe extraction (`wcbundle verify/inspect`).

Owns what "a good bundle" means on the builder/carrier side. `verify_bundle()`
accepts a `.tar` (with its `.tar.sha256` sidecar), split parts (the
`.parts.json` index, any `.partNNN`, or the tar path when only parts exist),
or an extracted directory, and raises IntegrityError (exit 6) or
SignatureError (exit 7) naming the member, the expected and the actual value.

Rules for a tar (all checked by streaming the archive; nothing is extracted):
* exactly one top directory; every member below it; no duplicate names;
  no absolute names, no `..`, `.` or empty components; regular files and
  directories only (no symlinks, hardlinks, devices, FIFOs, sparse files);
  no setuid/setgid/sticky bits. tarsafe's own checks run as a second opinion.
* no tar-in-tar: no member named like an archive (`.tar`, `.tgz`, `.tar.*`)
  and no member whose first block carries a ustar header; nothing after the
  end of the archive (a concatenated second archive is named as such).
* the end rule: with E = the end of the last member's data (512-aligned),
  the file size must be exactly ceil((E + 1024) / 10240) * 10240 and every
  byte from E on must be zero: two zero blocks, padded to a full 20-block
  record, as GNU tar and Python's tarfile write it. Shorter = truncated,
  longer = appended bytes, non-zero = appended data.
* every MANIFEST.sha256 entry matches its member, every other file is listed
  (MANIFEST.sha256 and MANIFEST.sha256.asc are the only unlisted files).
* the sidecar's sha256 covers every byte of the file.
* signatures: MANIFEST.sha256.asc (inside) and `<tar>.sha256.asc` (beside)
  are checked with gpgv against the bundle's `keys/wcbundle-signer.gpg` or a
  given keyring; `require_fpr` refuses unsigned bundles and other signers.

A directory is held to the same rules, except the tar-level ones; the site
exemption of install.sh (edited site.env) does not apply here.

`extract_bundle(tar, dest)` verifies first, then extracts through tarsafe into
`dest` and returns the top directory; use it whenever Python extracts a bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path

import tarsafe

from ..changes import role_changes
from ..core.errors import EnvironmentProblem, IntegrityError, SignatureError, UsageProblem
from ..core.fileutil import hash_stream
from . import sign, split

BLOCK = 512
RECORD = 20 * BLOCK
CHUNK = 1024 * 1024
MANIFEST = "MANIFEST.sha256"
MANIFEST_SIG = MANIFEST + sign.SIG_SUFFIX
SMALL_LIMIT = 64 * 1024 * 1024        # MANIFEST.sha256 / bundle.json / key are read into memory
ARCHIVE_NAME = re.compile(r"\.(tar|tgz|tbz2?|txz|tar\.[A-Za-z0-9]+)$", re.IGNORECASE)
_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
_KIND = {tarfile.SYMTYPE: "a symlink", tarfile.LNKTYPE: "a hardlink", tarfile.CHRTYPE: "a character device",
         tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO", tarfile.CONTTYPE: "a contiguous file",
         tarfile.GNUTYPE_SPARSE: "a sparse file"}
HINT = "Do not use this bundle: copy it again from the build machine, or rebuild it."


def _fail(message: str, hint: str = HINT) -> IntegrityError:
    return IntegrityError(message, hint=hint)


def check_name(name: str, where: str) -> list[str]:
    """Split a member path into components, refusing anything that could escape."""
    if not name or "\x00" in name or "\\" in name:
        raise _fail(f"{where}: member name {name!r} is empty or holds a NUL or backslash.")
    if name.startswith("/"):
        raise _fail(f"{where}: member {name!r} has an absolute path.")
    parts = name.split("/")
    if ".." in parts:
        raise _fail(f"{where}: member {name!r} contains '..' (path traversal).")
    if any(p in ("", ".") for p in parts):
        raise _fail(f"{where}: member {name!r} has an empty or '.' path component.")
    return parts


class _Scan:
    """What one pass over a bundle collects."""

    def __init__(self, label: str):
        self.label = label
        self.top: str | None = None
        self.files: dict[str, str] = {}      # path below top -> sha256
        self.sizes: dict[str, int] = {}
        self.dirs: set[str] = set()
        self.small: dict[str, bytes] = {}    # MANIFEST.sha256, its .asc, bundle.json, signer key, secrets.env

    def member(self, name: str, is_dir: bool) -> str | None:
        parts = check_name(name, self.label)
        if self.top is None:
            self.top = parts[0]
        elif parts[0] != self.top:
            raise _fail(f"{self.label}: member {name!r} is outside the top directory {self.top!r}/ "
                        "(a bundle has exactly one top directory).")
        rel = "/".join(parts[1:])
        if not rel:
            if not is_dir:
                raise _fail(f"{self.label}: the top entry {name!r} is not a directory.")
            return None
        if rel in self.files or rel in self.dirs:
            raise _fail(f"{self.label}: member {name!r} appears twice (a later copy would overwrite "
                        "the checked one on extraction).")
        if not is_dir and ARCHIVE_NAME.search(rel):
            raise _fail(f"{self.label}: member {name!r} is an archive inside the bundle (tar-in-tar); "
                        "a bundle holds no archives.")
        return rel

    def add_file(self, rel: str, stream) -> None:
        h = hashlib.sha256()
        size = 0
        # site/secrets.env: an update built --since this bundle carries it (carry/diff.py, never printed)
        keep = rel in (MANIFEST, MANIFEST_SIG, "bundle.json", sign.SIGNER_KEY, "site/secrets.env")
        kept = []
        first = True
        for buf in iter(lambda: stream.read(CHUNK), b""):
            if first and len(buf) >= 262 and buf[257:262] == b"ustar":
                raise _fail(f"{self.label}: member {self.top}/{rel} is itself a tar archive (tar-in-tar).")
            first = False
            h.update(buf)
            size += len(buf)
            if keep and size <= SMALL_LIMIT:
                kept.append(buf)
        self.files[rel] = h.hexdigest()
        self.sizes[rel] = size
        if keep:
            if size > SMALL_LIMIT:
                raise _fail(f"{self.label}: {rel} is {size} bytes, far larger than any real one.")
            self.small[rel] = b"".join(kept)

    def finish(self) -> None:
        if self.top is None:
            raise _fail(f"{self.label}: the archive is empty.")
        for rel in self.files:
            parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
            while parent:
                if parent in self.files:
                    raise _fail(f"{self.label}: {self.top}/{rel} lies below {self.top}/{parent}, "
                                "which is a file.")
                parent = parent.rsplit("/", 1)[0] if "/" in parent else ""


def _open_tar(fileobj, label: str):
    try:
        return tarsafe.TarSafe.open(fileobj=fileobj, mode="r:")
    except (tarfile.TarError, EOFError, ValueError, UnicodeError) as exc:
        raise _fail(f"{label}: not a readable tar archive ({exc}); it may be truncated or damaged.") from exc


def _scan_tar(fileobj, size: int, label: str) -> _Scan:
    scan = _Scan(label)
    tf = _open_tar(fileobj, label)
    end = 0
    try:
        for ti in tf:
            kind = _KIND.get(ti.type)
            if kind is None and not (ti.isreg() or ti.isdir()):
                kind = f"a member of tar type {ti.type!r}"
            if kind:
                target = f" -> {ti.linkname}" if ti.issym() or ti.islnk() else ""
                raise _fail(f"{label}: member {ti.name!r}{target} is {kind}; a bundle holds only regular "
                            "files and directories.")
            if ti.mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
                raise _fail(f"{label}: member {ti.name!r} has setuid/setgid/sticky bits ({oct(ti.mode)}).")
            rel = scan.member(ti.name, ti.isdir())
            end = ti.offset_data + (-(-ti.size // BLOCK) * BLOCK if ti.isreg() else 0)
            if rel is None:
                continue
            if ti.isdir():
                scan.dirs.add(rel)
                continue
            stream = tf.extractfile(ti)
            scan.add_file(rel, stream)
        try:  # tarsafe's checks, as a second opinion over the same headers
            tf._safetar_check(os.path.join(tempfile.gettempdir(), "wcbundle-verify-root"))
        except tarsafe.TarSafeException as exc:
            raise _fail(f"{label}: unsafe archive: {exc}.") from exc
    except (tarfile.TarError, EOFError, ValueError, UnicodeError) as exc:
        raise _fail(f"{label}: the archive is truncated or damaged ({exc}).") from exc
    scan.finish()
    _check_end(fileobj, size, end, label)
    return scan


def expected_tar_size(end: int) -> int:
    """The only valid size of a tar whose last member's data ends at `end`."""
    return -(-(end + 2 * BLOCK) // RECORD) * RECORD


def _check_end(fileobj, size: int, end: int, label: str) -> None:
    want = expected_tar_size(end)
    fileobj.seek(end)
    tail = fileobj.read(max(0, min(size, want + RECORD) - end))
    nonzero = next((i for i, b in enumerate(tail) if b), None)
    if nonzero is not None:
        at = end + nonzero
        start = nonzero - nonzero % BLOCK
        second = any(tail[o + 257:o + 262] == b"ustar" for o in range(start, len(tail) - 261, BLOCK))
        what = ("a second tar archive is concatenated after the end of the archive (tar-in-tar)" if second
                else "data follows the end of the archive (appended or damaged bytes)")
        raise _fail(f"{label}: {what}: first non-zero byte at offset {at}, after the last member "
                    f"ends at {end}.")
    if size < end + 2 * BLOCK:
        raise _fail(f"{label}: the archive is truncated: it has {size} bytes, but its last member ends at "
                    f"{end} and the end-of-archive marker needs {2 * BLOCK} bytes more.")
    if size != want:
        how = "bytes were appended after" if size > want else "it was cut short in"
        raise _fail(f"{label}: the archive has {size} bytes, expected exactly {want} ({how} the "
                    "end-of-archive padding).")


def _file_sha256(fileobj) -> str:
    fileobj.seek(0)
    return hash_stream(fileobj)


def _read_sidecar(tar: Path) -> str | None:
    side = tar.with_name(tar.name + ".sha256")
    if not side.is_file():
        return None
    words = side.read_text(errors="replace").split()
    if len(words) != 2 or not re.fullmatch(r"[0-9a-f]{64}", words[0]):
        raise _fail(f"{side}: not a sha256 sidecar ('<sha256>  <name>' on one line).")
    return words[0]


def _check_manifest(scan: _Scan) -> int:
    raw = scan.small.get(MANIFEST)
    where = f"{scan.label}: {scan.top}/{MANIFEST}"
    if raw is None:
        raise _fail(f"{scan.label}: {scan.top}/{MANIFEST} is missing, so nothing in the bundle can be checked.")
    listed: dict[str, str] = {}
    for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        m = _LINE.fullmatch(line)
        if not m:
            raise _fail(f"{where}:{n}: not a '<sha256>  <path>' line: {line[:80]!r}.")
        rel = m.group(2)
        check_name(rel, f"{where}:{n}")
        if rel in listed:
            raise _fail(f"{where}:{n}: {rel} is listed twice.")
        listed[rel] = m.group(1)
    problems = []
    for rel, want in sorted(listed.items()):
        got = scan.files.get(rel)
        if got is None:
            problems.append(f"{rel}: listed but missing")
        elif got != want:
            problems.append(f"{rel}: modified (sha256 expected {want}, actual {got})")
    for rel in sorted(set(scan.files) - set(listed) - {MANIFEST, MANIFEST_SIG}):
        problems.append(f"{rel}: not listed in {MANIFEST} (unlisted file)")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise _fail(f"{scan.label}: {len(problems)} file(s) do not match {MANIFEST}: "
                    + "; ".join(problems[:10]) + more + ".")
    return len(listed)


def _check_signatures(scan: _Scan, beside: list[tuple[Path, Path]], keyring: Path | None,
                      require_fpr: str | None) -> str | None:
    sig = scan.small.get(MANIFEST_SIG)
    if sig is None and not beside:
        if require_fpr:
            raise SignatureError(f"{scan.label} is not signed, but a signature by {require_fpr} is required.",
                                 hint="Ask the builder for a bundle built with --sign-key.")
        return None
    with tempfile.TemporaryDirectory(prefix="wcb-verify-") as tmp:
        ring = keyring
        if ring is None:
            key = scan.small.get(sign.SIGNER_KEY)
            if key is None:
                raise SignatureError(f"{scan.label} is signed but carries no {sign.SIGNER_KEY} and no keyring "
                                     "was given, so the signature cannot be checked.",
                                     hint="Pass --keyring with the signer's public key.")
            ring = Path(tmp) / "signer.gpg"
            ring.write_bytes(key)
        signers = set()
        if sig is None:
            raise SignatureError(f"{scan.label}: a signature lies beside the tar but {MANIFEST_SIG} is "
                                 "missing inside (removed after signing?).", hint=HINT)
        man, asc = Path(tmp) / MANIFEST, Path(tmp) / MANIFEST_SIG
        man.write_bytes(scan.small[MANIFEST])
        asc.write_bytes(sig)
        signers.add(sign.verify_signature(man, asc, ring, require_fpr))
        for data, sigpath in beside:
            signers.add(sign.verify_signature(data, sigpath, ring, require_fpr))
    if len(signers) != 1:
        raise SignatureError(f"{scan.label}: the signatures come from different keys: {', '.join(sorted(signers))}.",
                             hint=HINT)
    return signers.pop()


def _locate(path: Path) -> tuple[str, Path]:
    """(kind, path) of a bundle argument. A path that names nothing at all (no file, no
    directory, no parts index for it) is a usage error, exit 2, not an integrity failure."""
    if path.is_dir():
        return "dir", path
    is_parts = path.name.endswith(split.INDEX_SUFFIX) or split._PART_RE.search(path.name)
    if path.is_file():
        return ("parts" if is_parts else "tar"), path
    index = path.with_name(split._PART_RE.sub("", path.name) + split.INDEX_SUFFIX)
    if (is_parts and not path.name.endswith(split.INDEX_SUFFIX) and index.is_file()) \
            or split.index_path(path).is_file():
        return "parts", path  # the tar, or one part, is gone but its index is there: check the parts
    raise UsageProblem(f"{path}: no such bundle (no file, directory, or split parts by that name).",
                       hint="Check the path: give the .tar, its .parts.json or first part, or an extracted "
                            "bundle directory.")


def verify_bundle(path: Path, require_fpr: str | None = None, keyring: Path | None = None) -> dict:
    """Verify a bundle tar, its split parts, or an extracted tree; return a summary dict."""
    path = Path(path)
    if require_fpr:
        require_fpr = sign.normalize_fpr(require_fpr)
    kind, path = _locate(path)
    if kind == "dir":
        return _verify_dir(path, require_fpr, keyring)
    with ExitStack() as stack:
        beside: list[tuple[Path, Path]] = []
        if kind == "parts":
            idx, index = split.load_index(path)
            parts = split.check_parts(idx, index)
            fileobj = stack.enter_context(split.PartsReader(parts))
            tar = idx.parent / index["name"]
            want, label = index["sha256"], f"{index['name']} ({len(parts)} parts)"
            side = _read_sidecar(tar)
            if side is not None and side != want:
                raise _fail(f"{tar.name}.sha256 says {side}, but the parts index says {want}.")
            extra = {"parts": [str(p) for p in parts], "index": str(idx)}
        else:
            tar = path
            fileobj = stack.enter_context(tar.open("rb"))
            want, label = _read_sidecar(tar), tar.name
            if want is None:
                raise _fail(f"{tar}: the sidecar {tar.name}.sha256 is missing, so the whole file cannot be "
                            "checked.", hint="Copy the .tar.sha256 written by the build next to the tar.")
            extra = {}
        size = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(0)
        scan = _scan_tar(fileobj, size, label)
        count = _check_manifest(scan)
        actual = _file_sha256(fileobj)
        if actual != want:
            raise _fail(f"{label}: the sha256 of the whole file does not match its sidecar: expected {want}, "
                        f"actual {actual} (bytes changed outside the members, e.g. in headers or padding).")
        side_sig = tar.with_name(tar.name + ".sha256" + sign.SIG_SUFFIX)
        if side_sig.is_file():
            beside.append((tar.with_name(tar.name + ".sha256"), side_sig))
        signer = _check_signatures(scan, beside, keyring, require_fpr)
    return {"path": str(path), "kind": kind, "top": scan.top, "files": count + 1 + (MANIFEST_SIG in scan.files),
            "listed": count, "manifest_signed": MANIFEST_SIG in scan.files,
            "bytes": size, "sha256": actual, "signed": signer is not None, "signer": signer, **extra}


def _verify_dir(path: Path, require_fpr: str | None, keyring: Path | None) -> dict:
    if not (path / MANIFEST).exists():
        subs = [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
        if len(subs) == 1 and (subs[0] / MANIFEST).exists():
            path = subs[0]
    scan = _Scan(str(path))
    scan.top = path.name
    for root, dirs, files in os.walk(path):
        for name in sorted(dirs) + sorted(files):
            full = Path(root, name)
            rel = full.relative_to(path).as_posix()
            st = full.lstat()
            if stat.S_ISDIR(st.st_mode):
                scan.dirs.add(rel)
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = ("a symlink -> " + os.readlink(full)) if stat.S_ISLNK(st.st_mode) else "not a regular file"
                raise _fail(f"{path}: {rel} is {kind}; a bundle holds only regular files and directories.")
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                raise _fail(f"{path}: {rel} has setuid/setgid bits ({oct(st.st_mode)}).")
            if ARCHIVE_NAME.search(rel):
                raise _fail(f"{path}: {rel} is an archive inside the bundle (tar-in-tar).")
            with full.open("rb") as f:
                scan.add_file(rel, f)
    count = _check_manifest(scan)
    signer = _check_signatures(scan, [], keyring, require_fpr)
    return {"path": str(path), "kind": "dir", "top": scan.top, "files": len(scan.files), "listed": count,
            "manifest_signed": MANIFEST_SIG in scan.files,
            "bytes": sum(scan.sizes.values()), "sha256": None, "signed": signer is not None, "signer": signer}


def scan_archive(kind: str, path: Path) -> tuple[_Scan, str, int]:
    """A bundle .tar or split parts (kind from _locate) scanned with verify's safety rules, unextracted:
    (scan, label, size in bytes)."""
    with ExitStack() as stack:
        if kind == "parts":
            idx, index = split.load_index(path)
            fileobj = stack.enter_context(split.PartsReader(split.check_parts(idx, index)))
            label = index["name"]
        else:
            fileobj = stack.enter_context(path.open("rb"))
            label = path.name
        size = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(0)
        return _scan_tar(fileobj, size, label), label, size


def inspect_bundle(path: Path) -> dict:
    """EL, arch, roles -> packages, sizes and build info from bundle.json, without extracting."""
    path = Path(path)
    kind, path = _locate(path)
    if kind == "dir":
        top = path if (path / "bundle.json").exists() else next(
            (p for p in path.iterdir() if (p / "bundle.json").is_file()), path)
        try:
            raw = (top / "bundle.json").read_bytes()
        except OSError as exc:
            raise _fail(f"{top}: bundle.json cannot be read ({exc.strerror}).") from exc
        label, size = str(top), None
    else:
        scan, label, size = scan_archive(kind, path)
        raw = scan.small.get("bundle.json")
        if raw is None:
            raise _fail(f"{label}: {scan.top}/bundle.json is missing; this is not a wcbundle bundle.")
    return summarize(raw, label, size)


def summarize(raw: bytes, label: str, size: int | None) -> dict:
    """The inspect view of a bundle.json document."""
    try:
        doc = json.loads(raw)
        lock = doc["lock"]
        pkgs = lock["packages"]
        roles = {role: sorted(r.get("install", [])) for role, r in sorted(lock["roles"].items())}
        # role sizes count what the role ships: its new packages and the baseline upgrades it needs
        by_role_size = {role: sum(p.get("size", 0) for p in pkgs if role in p.get("roles", []))
                        for role in roles}
        return {"bundle": label, "el": lock["el"], "arch": lock["arch"], "bytes": size,
                "packages": len(pkgs), "packages_bytes": sum(p.get("size", 0) for p in pkgs),
                "roles": roles, "requested": {r: v.get("requested", []) for r, v in lock["roles"].items()},
                "upgrades": {r: sorted(v.get("upgrade", [])) for r, v in sorted(lock["roles"].items())},
                "role_bytes": by_role_size, "build": doc.get("build", {}),
                # per role, from the lock (bundler.changes): the one count resolve and the report use
                "changes": {r: c.to_dict() for r, c in role_changes(lock).items()},
                "site": (doc.get("site") or {}).get("name") if isinstance(doc.get("site"), dict) else None,
                # an update (build --since, issue 14): its base, and what it carries of the lock above
                "base": doc.get("base") if isinstance(doc.get("base"), dict) else None,
                "carried": list((doc.get("update") or {}).get("carried") or []) if doc.get("base") else None,
                "repos": sorted(lock.get("repos", {}))}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _fail(f"{label}: bundle.json is not a valid wcbundle document ({type(exc).__name__}: {exc}).") from exc


def extract_bundle(tar: Path, dest: Path, require_fpr: str | None = None) -> Path:
    """Verify `tar` (or its parts), then extract it through tarsafe into `dest`; return the top dir.

    Nothing is extracted unless verification passes; a failed extraction
    removes what it wrote.
    """
    info = verify_bundle(tar, require_fpr=require_fpr)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    top = dest / info["top"]
    if top.exists():
        raise EnvironmentProblem(f"{top} already exists; refusing to extract over it.",
                                 hint="Remove it or choose another destination.")
    with ExitStack() as stack:
        if info["kind"] == "parts":
            fileobj = stack.enter_context(split.PartsReader([Path(p) for p in info["parts"]]))
        else:
            fileobj = stack.enter_context(Path(info["path"]).open("rb"))
        try:
            with tarsafe.TarSafe.open(fileobj=fileobj, mode="r:") as tf:
                if hasattr(tarfile, "data_filter"):   # Python's own 'data' filter too, where it exists
                    tf.extraction_filter = tarfile.data_filter
                tf.extractall(str(dest))
        except (tarsafe.TarSafeException, tarfile.TarError, OSError) as exc:  # FilterError is a TarError
            _rmtree(top)
            if isinstance(exc, OSError):
                raise EnvironmentProblem(f"extracting into {dest} failed: {exc.strerror or exc}.",
                                         hint="Check free space and permissions.") from exc
            raise _fail(f"extracting {info['path']} failed: {exc}.") from exc
    return top


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

