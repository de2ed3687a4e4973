"""`wcbundle build` as a list of steps: resolve -> fetch -> signatures -> localrepo -> pack [-> split].

`build(ctx)` runs `STEPS` in order on one `BuildContext`: each step reads what the earlier ones
left in it and adds its own result (the lock, the cache files, the keys and the signature report,
the staged tree, the bundle, the parts). Every step is announced and timed in the progress output
(`[n/N] ...` and `<step> done in ...` on stderr), and so are its sub-steps, so what runs is what
the user sees. Nothing here does the work: each step is one or two calls into its layer
(resolve/, assemble/, carry/).

Adding a step: a function `_my_step(ctx, note)` and one `Step(...)` entry in `STEPS` at its place
(docs/design.md, "How to add a pipeline step").
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.units import human_size
from .lock import Lock

# Sub-step labels as the progress output prints them.
SUBSTEPS = {"packages": "repo/Packages (hard links into the cache)", "repo": "repo (createrepo_c)",
            "tree": "installer, keys, site files, bundle.json/env", "sbom": "SBOM (SPDX)",
            "report": "report.html", "manifest": "MANIFEST.sha256", "sign": "signature (gpg)",
            "tar": "tar + sidecar"}


@dataclass
class BuildContext:
    """What `wcbundle build` was asked for, and what each step has produced so far."""

    sel: Any                                    # bundler.resolve.solve.Selection
    out_dir: Path
    fmt: str = "tar"                            # "tar" | "dir"
    jobs: int = 8
    site: Any = None                            # bundler.site.model.Site, or None
    allow_unsigned: tuple[str, ...] = ()
    sign_key: str | None = None
    split_bytes: int | None = None
    quiet: bool = False
    module_disable: list[str] = field(default_factory=list)
    since: Any = None                           # build --since: carry.diff.BundleDoc of OLD
    # filled in by the steps, in this order
    lock: Lock | None = None                    # resolve
    update: Any = None                          # resolve (--since): assemble.update.Update
    carry: Lock | None = None                   # resolve: the packages this bundle ships (all, or an update's)
    stats: Any = None                           # fetch: FetchStats
    files: dict[str, Path] = field(default_factory=dict)     # fetch: checksum -> verified cache file
    keys: dict[str, Any] = field(default_factory=dict)       # signatures: repo -> RepoKeys
    signatures: Any = None                      # signatures: SignatureReport
    staging: Any = None                         # localrepo: assemble.pack.Staging
    result: Any = None                          # pack: assemble.pack.PackResult
    parts: list[Path] = field(default_factory=list)          # split
    times: dict[str, float] = field(default_factory=dict)    # step -> seconds
    cleanup: ExitStack = field(default_factory=ExitStack)    # temp dirs, the staging directory


@dataclass(frozen=True)
class Step:
    name: str
    what: Callable[[BuildContext], str]                      # the progress line
    run: Callable[[BuildContext, Progress], str | None]      # -> the "done" note
    when: Callable[[BuildContext], bool] = lambda ctx: True


class Progress:
    """Numbered steps with timings on stderr, and timed sub-steps; silent when quiet."""

    def __init__(self, total: int, quiet: bool, echo: Callable[[str], None]):
        self.total, self.quiet, self.n, self.echo = total, quiet, 0, echo
        self._sub: tuple[str, float] | None = None

    def say(self, text: str) -> None:
        if not self.quiet:
            self.echo(text)

    def sub(self, name: str | None) -> None:
        """Start sub-step `name` (None: just end the current one), printing the last one's time."""
        now = time.monotonic()
        if self._sub is not None:
            label, t0 = self._sub
            self.say(f"      - {label}: {now - t0:.1f}s")
        self._sub = (SUBSTEPS.get(name, name), now) if name else None

    @contextmanager
    def step(self, name: str, what: str, times: dict[str, float]) -> Iterator[list[str]]:
        self.n += 1
        self.say(f"[{self.n}/{self.total}] {what}")
        t0 = time.monotonic()
        note: list[str] = []
        yield note
        self.sub(None)
        times[name] = dt = time.monotonic() - t0
        self.say(f"      {name} done in {dt:.1f}s" + (f": {note[0]}" if note else ""))


# -- the steps ----------------------------------------------------------------------------------

def _resolve(ctx: BuildContext, progress: Progress) -> str:
    import logging

    from .assemble.signatures import check_allow_unsigned
    log = logging.getLogger("wcbundle")
    if ctx.since is None:
        from .resolve.solve import resolve
        ctx.lock = lock = resolve(ctx.sel, progress=lambda role: log.debug("solving role %s", role))
    else:   # on top of OLD's packages (resolve/since.py); the update ships what OLD lacks
        from .resolve.since import resolve_since
        ctx.lock = lock = resolve_since(ctx.sel, ctx.since.lock,
                                        progress=lambda role: log.debug("solving role %s", role))
    check_allow_unsigned(lock, ctx.allow_unsigned)  # option errors before any download
    ctx.carry = lock
    note = f"{len(lock.packages)} packages, {human_size(lock.total_size())}, roles {', '.join(lock.roles)}"
    if ctx.since is not None:
        import dataclasses

        from .assemble.update import make_update
        ctx.update = upd = make_update(ctx.since, lock.to_dict(), ctx.site)
        ctx.carry = dataclasses.replace(lock, packages=[p for p in lock.packages
                                                        if p.checksum.partition(":")[2] not in upd.old_shas])
        note += (f"; update of {ctx.since.bundle_id}: {len(ctx.carry.packages)} changed, "
                 f"{human_size(ctx.carry.total_size())}")
    return note


def _fetch(ctx: BuildContext, progress: Progress) -> str:
    from .assemble.fetch import FetchStats, fetch_all
    ctx.stats = stats = FetchStats()
    ctx.files = fetch_all(ctx.carry, ctx.sel.cache_dir, jobs=ctx.jobs, quiet=ctx.quiet, stats=stats)
    rate = stats.bytes_downloaded / stats.seconds if stats.seconds else 0
    return (f"{stats.downloaded} downloaded ({human_size(stats.bytes_downloaded)}, "
            f"{human_size(int(rate))}/s), {stats.cached} from the cache")


def _signatures(ctx: BuildContext, progress: Progress) -> str:
    from .assemble.signatures import check_signatures, fetch_keys
    keydir = Path(ctx.cleanup.enter_context(tempfile.TemporaryDirectory(prefix="wcbundle-keys-")))
    ctx.keys = fetch_keys(ctx.lock, keydir)
    ctx.signatures = sigs = check_signatures(ctx.carry, ctx.files, ctx.keys, ctx.allow_unsigned)
    return (f"{sigs.signed_ok} signed OK"
            + (f", {len(sigs.unsigned_allowed)} unsigned accepted (--allow-unsigned "
               f"{' '.join(sigs.allow_unsigned)})" if sigs.unsigned_allowed else ""))


def _pack_input(ctx: BuildContext, progress: Progress):
    from .assemble.pack import PackInput
    return PackInput(lock=ctx.lock, files=ctx.files, keys=ctx.keys, out_dir=ctx.out_dir, fmt=ctx.fmt,
                     site=ctx.site, sign_key=ctx.sign_key, signatures=ctx.signatures.to_dict(),
                     allow_unsigned=list(ctx.allow_unsigned), module_disable=ctx.module_disable,
                     update=ctx.update, progress=progress.sub)


def _localrepo(ctx: BuildContext, progress: Progress) -> str:
    from .assemble import pack
    inp = _pack_input(ctx, progress)
    ctx.staging = st = ctx.cleanup.enter_context(pack.staging(inp))
    pack.place_packages(inp, st)
    pack.index_repo(inp, st)
    return f"{len(list((st.tree / 'repo' / 'Packages').iterdir()))} packages indexed"


def _pack(ctx: BuildContext, progress: Progress) -> str:
    from .assemble import pack
    ctx.result = r = pack.finish(_pack_input(ctx, progress), ctx.staging)
    return f"{r.top} ({human_size(r.size)})"


def _split(ctx: BuildContext, progress: Progress) -> str:
    from .carry.split import carried_files, split_bundle
    ctx.parts = carried_files(ctx.result.path, split_bundle(ctx.result.path, ctx.split_bytes))
    return f"{len(ctx.parts)} files"


STEPS: tuple[Step, ...] = (
    Step("resolve", lambda c: f"Resolving EL{c.sel.el} roles against baseline {c.sel.baseline}"
         + (f" with {c.since.bundle_id} installed" if c.since is not None else ""), _resolve),
    Step("fetch", lambda c: f"Downloading {len(c.carry.packages)} packages ({c.jobs} in parallel)", _fetch),
    Step("signatures", lambda c: "Checking RPM signatures against each repo's keys", _signatures),
    Step("localrepo", lambda c: "Making the bundle's package repository", _localrepo),
    Step("pack", lambda c: f"Packing the bundle into {c.out_dir} ({c.fmt})", _pack),
    Step("split", lambda c: f"Splitting into parts of {human_size(c.split_bytes)}", _split,
         when=lambda c: bool(c.split_bytes)),
)


def build(ctx: BuildContext, echo: Callable[[str], None] = print) -> BuildContext:
    """Run every step that applies to ctx, in order; ctx holds the results afterwards."""
    steps = [s for s in STEPS if s.when(ctx)]
    progress = Progress(len(steps), ctx.quiet, echo)
    with ctx.cleanup:
        for step in steps:
            with progress.step(step.name, step.what(ctx), ctx.times) as note:
                done = step.run(ctx, progress)
                if done:
                    note.append(done)
    return ctx
