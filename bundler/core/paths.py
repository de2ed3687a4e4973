"""Where the builder finds its shipped data and keeps its cache."""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"   # bundler/data (this file is bundler/core/paths.py)
MANIFESTS = DATA / "manifests"
INSTALLER = DATA / "installer"
DEFAULT_MANIFEST = MANIFESTS / "workcenter.yaml"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: --cache DIR, else $XDG_CACHE_HOME/wcbundle, else ~/.cache/wcbundle."""
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wcbundle"
