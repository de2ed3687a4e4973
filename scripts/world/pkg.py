"""The package record the world generator works with: real or modelled, one shape.

A `Pkg` is what one shadow/modelled RPM must look like from the outside:
NEVRA, the dependency arrays (copied verbatim from real metadata, or written
by the model), and the file paths it must carry so that file requires resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FLAG_OPS = {"EQ": "=", "LT": "<", "GT": ">", "LE": "<=", "GE": ">="}
OP_FLAGS = {v: k for k, v in FLAG_OPS.items()}


@dataclass(frozen=True)
class Dep:
    """One dependency entry: `name [op [epoch:]ver[-rel]]`, `pre` for Requires(pre)."""

    name: str
    flags: str | None = None   # EQ LT GT LE GE, as in primary.xml
    epoch: str | None = None
    ver: str | None = None
    rel: str | None = None
    pre: bool = False

    @classmethod
    def parse(cls, text: str, pre: bool = False) -> Dep:
        """'name', 'name >= 1:2.3-4' or a rich dep '(a if b)' (kept whole)."""
        text = text.strip()
        if text.startswith("("):
            return cls(text, pre=pre)
        parts = text.split()
        if len(parts) == 1:
            return cls(parts[0], pre=pre)
        name, op, evr = parts
        epoch = None
        if ":" in evr:
            epoch, evr = evr.split(":", 1)
        ver, _, rel = evr.partition("-")
        return cls(name, OP_FLAGS[op], epoch, ver, rel or None, pre)

    def evr(self) -> str:
        out = self.ver or ""
        if self.epoch not in (None, "", "0"):
            out = f"{self.epoch}:{out}"
        if self.rel:
            out += f"-{self.rel}"
        return out

    def __str__(self) -> str:
        if not self.flags:
            return self.name
        return f"{self.name} {FLAG_OPS[self.flags]} {self.evr()}"


@dataclass
class Pkg:
    """One RPM to build. `files` maps path -> 'file' | 'dir'."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    summary: str = ""
    license: str = "GPLv2"
    vendor: str = ""
    provides: list[Dep] = field(default_factory=list)
    requires: list[Dep] = field(default_factory=list)
    conflicts: list[Dep] = field(default_factory=list)
    obsoletes: list[Dep] = field(default_factory=list)
    recommends: list[Dep] = field(default_factory=list)
    suggests: list[Dep] = field(default_factory=list)
    supplements: list[Dep] = field(default_factory=list)
    enhances: list[Dep] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    modularity_label: str | None = None
    modelled: bool = False
    size: int = 0            # the real (or modelled) RPM size; sets the padding payload

    @property
    def evr(self) -> str:
        base = f"{self.version}-{self.release}"
        return f"{self.epoch}:{base}" if self.epoch else base

    @property
    def nevra(self) -> str:
        """name-epoch:version-release.arch, epoch always written (the lock's form)."""
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"


DEP_KINDS = ("provides", "requires", "conflicts", "obsoletes",
             "recommends", "suggests", "supplements", "enhances")
