"""`wcbundle build`: resolve -> fetch -> signatures -> repo + pack, as a short list of steps.

Thin layer: each step is one library call (bundler.resolve.solve, fetch, gpg, pack)
wrapped in `_Steps.step()`, which prints the step's start and its timing on
stderr (the download bar comes from fetch.py). stdout gets only the result:
the bundle path, its sha256 and a one-line summary.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import click

from ..core.errors import InputError
from ..core.units import human_size
from .resolve import selection_from, selection_options

log = logging.getLogger("wcbundle")


SUBSTEPS = {"tree": "installer + packages", "repo": "repo (createrepo_c)",
            "metadata": "keys, site, bundle.json/env, SBOM, report", "manifest": "MANIFEST.sha256",
            "tar": "tar + sidecar"}


class _Steps:
    """Numbered steps with timings on stderr, and timed sub-steps; silent with --quiet."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.n = total, quiet, 0
        self.times: dict[str, float] = {}
        self._sub: tuple[str, float] | None = None

    def say(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def sub(self, name: str | None) -> None:
        """Start sub-step `name` (None: just end the current one), printing the last one's time."""
        now = time.monotonic()
        if self._sub is not None:
            label, t0 = self._sub
            self.say(f"      - {label}: {now - t0:.1f}s")
        self._sub = (SUBSTEPS.get(name, name), now) if name else None

    @contextmanager
    def step(self, name: str, what: str):
        self.n += 1
        self.say(f"[{self.n}/{self.total}] {what}")
        t0 = time.monotonic()
        note: list[str] = []
        yield note
        self.sub(None)
        dt = time.monotonic() - t0
        self.times[name] = dt
        self.say(f"      {name} done in {dt:.1f}s" + (f": {note[0]}" if note else ""))


def _module_disable(sel) -> list[str]:
    """The manifest's `modules.disable` for the target EL (bundle.env's WCB_MODULE_DISABLE)."""
    from ..resolve.manifest import load_manifest
    return list(load_manifest(sel.manifest_path).for_el(sel.el).modules.disable)


@click.command()
@selection_options
@click.option("--site", "site_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Site file (site.yaml): adds site/site.env, site/secrets.env (0600) and the app jar.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Directory for the bundle (.tar + .tar.sha256, or the tree).")
@click.option("--jobs", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Parallel downloads.")
@click.option("--format", "fmt", type=click.Choice(["tar", "dir"]), default="tar", show_default=True,
              help="One uncompressed .tar with a .sha256 sidecar, or the bundle directory only.")
@click.option("--allow-unsigned", "allow_unsigned", multiple=True, metavar="REPO",
              help="Accept unsigned packages from REPO (repeatable). Recorded in bundle.json and the report.")
@click.option("--sign-key", "sign_key", metavar="KEYID",
              help="Sign MANIFEST.sha256 and the tar's sidecar with this GnuPG secret key.")
@click.option("--split", "split_size", metavar="SIZE",
              help="Also cut the tar into parts of SIZE (e.g. 3900M) with an index and join.sh.")
@click.pass_context
def build(ctx: click.Context, site_path: Path | None, out_dir: Path, jobs: int,
          fmt: str, allow_unsigned: tuple[str, ...], sign_key: str | None, split_size: str | None,
          **kwargs) -> None:
    """Build an offline bundle: resolve, download and verify every package, check
    RPM signatures, make the local repo, and pack the installer, repo, keys, site
    files, SBOM and report into one verified .tar."""
    quiet = bool((ctx.obj or {}).get("quiet"))
    if split_size and fmt != "tar":
        raise InputError("--split needs --format tar (a directory cannot be split).")
    split_bytes = None
    if split_size:
        from ..carry.split import parse_size
        split_bytes = parse_size(split_size)
    sel = selection_from(**kwargs)
    for rid, urls in sel.gpgkeys.items():  # a local key file that is not there fails now, not after the downloads
        for url in urls:
            if url.startswith("file://"):
                from ..resolve.metadata import file_url_path
                if not file_url_path(url).is_file():
                    raise InputError(f"--gpgkey {rid}: {file_url_path(url)} does not exist or is not a file.",
                                     hint="Give the path of the repo's public key file (ASCII-armored).")
    site = None
    if site_path is not None:  # validated before anything is downloaded
        from ..site.model import load_site
        site = load_site(site_path)
    if sign_key:  # a missing signing key fails now, not after the downloads
        from ..carry.sign import fingerprint_of
        fingerprint_of(sign_key)
    steps = _Steps(5 if split_bytes else 4, quiet)
    t_start = time.monotonic()

    with steps.step("resolve", f"Resolving EL{sel.el} roles against baseline {sel.baseline}") as note:
        from ..resolve.solve import resolve
        lock = resolve(sel, progress=lambda role: log.debug("solving role %s", role))
        note.append(f"{len(lock.packages)} packages, {human_size(lock.total_size())}, "
                    f"roles {', '.join(lock.roles)}")
        from ..assemble.signatures import check_allow_unsigned
        check_allow_unsigned(lock, allow_unsigned)  # option errors before any download

    with steps.step("fetch", f"Downloading {len(lock.packages)} packages ({jobs} in parallel)") as note:
        from ..assemble.fetch import FetchStats, fetch_all
        stats = FetchStats()
        files = fetch_all(lock, sel.cache_dir, jobs=jobs, quiet=quiet, stats=stats)
        rate = stats.bytes_downloaded / stats.seconds if stats.seconds else 0
        note.append(f"{stats.downloaded} downloaded ({human_size(stats.bytes_downloaded)}, "
                    f"{human_size(int(rate))}/s), {stats.cached} from the cache")

    with tempfile.TemporaryDirectory(prefix="wcbundle-keys-") as keydir:
        with steps.step("signatures", "Checking RPM signatures against each repo's keys") as note:
            from ..assemble.signatures import check_signatures, fetch_keys
            keys = fetch_keys(lock, Path(keydir))
            sigs = check_signatures(lock, files, keys, allow_unsigned)
            note.append(f"{sigs.signed_ok} signed OK"
                        + (f", {len(sigs.unsigned_allowed)} unsigned accepted (--allow-unsigned "
                           f"{' '.join(sigs.allow_unsigned)})" if sigs.unsigned_allowed else ""))

        with steps.step("pack", f"Packing the bundle into {out_dir} ({fmt})") as note:
            from ..assemble.pack import PackInput, pack
            result = pack(PackInput(
                lock=lock, files=files, keys=keys, out_dir=out_dir, fmt=fmt, site=site, sign_key=sign_key,
                signatures=sigs.to_dict(), allow_unsigned=list(allow_unsigned),
                module_disable=_module_disable(sel),
                progress=steps.sub))
            note.append(f"{result.top} ({human_size(result.size)})")

    parts: list[Path] = []
    if split_bytes:
        with steps.step("split", f"Splitting into parts of {human_size(split_bytes)}") as note:
            from ..carry.split import split_bundle
            from .carry import carried_files
            parts = carried_files(result.path, split_bundle(result.path, split_bytes))
            note.append(f"{len(parts)} files")

    total = time.monotonic() - t_start
    click.echo(str(result.path))
    if result.sha256:
        click.echo(f"sha256: {result.sha256}")
    for p in parts:
        click.echo(str(p))
    if sign_key:
        from ..carry.sign import fingerprint_of
        click.echo(f"Signed by: {fingerprint_of(sign_key)} (give this fingerprint to the target's operator "
                   "by another channel)")
    roles = ", ".join(f"{r} ({len(v.install) + len(v.upgrade)})" for r, v in lock.roles.items())
    click.echo(f"EL{lock.el} {lock.arch}: {result.packages} packages for {roles}; "
               f"{human_size(result.size)}; built in {total:.1f}s "
               f"({stats.downloaded} downloaded, {stats.cached} cached)"
               + (f"; report: {result.report}" if result.report else ""))
