"""Why a package is in the lock: the chain from a requested package down to it."""

from __future__ import annotations

import logging
from collections import deque

import solv

from ..lock import Lock
from .pool import Loaded

log = logging.getLogger("wcbundle")

def _chain_in_pool(loaded: Loaded, roots: list, target) -> list[str]:
    """Shortest requires-path from a requested package to `target` over all candidates."""
    pool = loaded.pool
    prev = {r.id: None for r in roots}
    queue = deque(roots)
    while queue:
        s = queue.popleft()
        if s.id == target.id:
            path = []
            sid = s.id
            while sid is not None:
                path.append(pool.solvables[sid].name)
                sid = prev[sid]
            return list(reversed(path))
        for dep in sorted(s.lookup_deparray(solv.SOLVABLE_REQUIRES), key=str):
            for p in sorted(pool.whatprovides(dep), key=lambda x: (x.name, x.arch)):
                if p.id not in prev and p.id not in loaded.excluded:
                    prev[p.id] = s.id
                    queue.append(p)
    return []


def why_chains(pool: solv.Pool, roots: list, members: dict[int, object], weak: bool) -> dict[int, list[str]]:
    """BFS over requires (and recommends when weak deps are on) inside the result set."""
    keys = [solv.SOLVABLE_REQUIRES] + ([solv.SOLVABLE_RECOMMENDS] if weak else [])
    chains = {r.id: [r.name] for r in roots if r.id in members}
    queue = deque(r for r in roots if r.id in members)
    while queue:
        s = queue.popleft()
        for key in keys:
            # sorted: libsolv's internal order differs between a fresh parse and a .solv load,
            # and the chains must not (a warm run gives the same lock as a cold one)
            for dep in sorted(s.lookup_deparray(key), key=str):
                for p in sorted(pool.whatprovides(dep), key=lambda x: (x.name, x.arch)):
                    if p.id in members and p.id not in chains:
                        chains[p.id] = chains[s.id] + [p.name]
                        queue.append(p)
    return chains


def why(lock: Lock, name: str) -> list[list[str]]:
    """Every recorded chain that ends in package `name` (one per role that needs it)."""
    return [p.why for p in lock.packages if p.name == name]
