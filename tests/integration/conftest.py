"""Session fixtures for the integration tier: the fixture worlds, served over HTTP on 127.0.0.1.

`world_el7` / `world_el9`: the world (built once per machine, see scripts/world)
served by one healthy Mirror for the whole session. Tests that inject faults
should start their own mirror with `mirror_factory`, so that a fault never
leaks into another test through the shared one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.mirror import Mirror
from scripts.world import World, ensure


@dataclass
class ServedWorld:
    """A world plus the mirror serving it: `.url`, `.repo_args`, `.keys`, `.repos`, `.mirror`."""

    world: World
    mirror: Mirror

    @property
    def el(self) -> int:
        return self.world.el

    @property
    def url(self) -> str:
        return self.mirror.url

    @property
    def root(self) -> Path:
        return self.world.root

    @property
    def repos(self) -> dict[str, Path]:
        return self.world.repos

    @property
    def keys(self) -> dict[str, Path]:
        return self.world.keys

    @property
    def repo_args(self) -> list[str]:
        """`--repo ID=http://127.0.0.1:PORT/elN/ID/ --gpgkey ID=file://...` for wcbundle resolve/build."""
        return self.world.repo_args(self.url)

    def repo_url(self, repo: str) -> str:
        return self.world.repo_url(self.url, repo)


def _served(el: int):
    world = ensure(el)
    with Mirror(world.root) as mirror:
        yield ServedWorld(world, mirror)


@pytest.fixture(scope="session")
def world_el7():
    yield from _served(7)


@pytest.fixture(scope="session")
def world_el9():
    yield from _served(9)


@pytest.fixture
def mirror_factory():
    """`mirror_factory(root, **Mirror kwargs)` -> a started Mirror, stopped at teardown."""
    started: list[Mirror] = []

    def make(root, **kwargs) -> Mirror:
        m = Mirror(root, **kwargs).start()
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()
