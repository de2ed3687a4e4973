"""Sizes for people: the one formatter of byte counts (CLI summaries, inspect, report.html)."""

from __future__ import annotations


def human_size(n: int | float) -> str:
    """Binary units: 512 -> '512 B', 1536 -> '1.5 KiB', up to GiB (5 TiB -> '5120.0 GiB')."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
