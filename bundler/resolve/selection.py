"""What to resolve: the EL, the manifest, roles, repo/key overrides, baseline, cache (built by
cli/resolve.py's selection_options from the command line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Selection:
    """What to resolve (docs/design.md section 8)."""

    el: int
    manifest_path: Path
    roles: list[str] = field(default_factory=list)
    repos: dict[str, str] = field(default_factory=dict)
    gpgkeys: dict[str, list[str]] = field(default_factory=dict)
    fingerprints: dict[str, list[str]] = field(default_factory=dict)   # --key-fingerprint ID=FPR
    installs: list[str] = field(default_factory=list)
    baseline: str = "minimal"
    cache_dir: Path = Path(".")
    refresh: bool = False
    # role sets that share a host, each solved as one more job (docs/design.md, "resolve"): None = the
    # union of the selected roles (no site: any co-residence must install); from a site, each distinct
    # set of roles a node holds
    joint: list[list[str]] | None = None
