"""Bad input that needs packages (moved from tests/unit/test_bad_input.py): unknown package,
unsatisfiable request, unreadable baseline capture, full disk while building and while caching.
The fixture world is read through file:// repos (no network); the full disk is a real tmpfs
(`tiny_fs`, tests/conftest.py; skipped when mounting is not permitted, and it says so)."""

from __future__ import annotations

import pytest

from bundler.core.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_RESOLVE
from tests.support.cli import assert_clean_error, snapshot, wcb

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world_repos():
    try:
        from scripts.world import ensure
    except ImportError:  # pragma: no cover
        pytest.skip("the fixture world (scripts.world) is not available")
    w = ensure(7)
    return w, {rid: path.as_uri() + "/" for rid, path in w.repos.items()}


def repo_flags(repos: dict[str, str], *drop: str) -> list[str]:
    return [a for rid, url in repos.items() if rid not in drop for a in ("--repo", f"{rid}={url}")]


@pytest.mark.integration
def test_unknown_package_suggests_close_names(work, capsys, world_repos):
    _, repos = world_repos
    code, _, err = wcb(*["resolve", "--install", "MariaDB-servr", "--cache", str(work / "c")]
                           + repo_flags(repos))
    assert_clean_error(code, err, EXIT_RESOLVE, "MariaDB-servr", "Did you mean", "MariaDB-server")


@pytest.mark.integration
def test_unsatisfiable_names_problem_and_chain(work, capsys, world_repos):
    _, repos = world_repos
    code, _, err = wcb(*["resolve", "--install", "erlang", "--cache", str(work / "c")]
                           + repo_flags(repos, "c7-updates", "mariadb", "rabbitmq", "c7-extras"))
    assert_clean_error(code, err, EXIT_RESOLVE, "nothing provides openssl-libs", "needed by erlang-23.3.4.18",
                       "Chain: erlang -> openssl-libs")


@pytest.mark.integration
def test_unreadable_baseline_capture(work, capsys, world_repos):
    _, repos = world_repos
    garbage = work / "capture.txt"
    garbage.write_bytes(bytes(range(256)) * 4)
    code, _, err = wcb(*["resolve", "--baseline", str(garbage), "--role", "mq-node",
                                    "--cache", str(work / "c")] + repo_flags(repos))
    assert_clean_error(code, err, EXIT_INPUT, "capture.txt")


@pytest.mark.integration
def test_full_disk_build_output(work, capsys, world_repos, tiny_fs):
    w, _ = world_repos
    mnt = tiny_fs("1m")
    code, _, err = wcb(*["build", "--role", "mq-node", "--out", str(mnt), "--cache", str(work / "c")]
                           + w.repo_args("file://" + str(w.root)))
    assert_clean_error(code, err, EXIT_ENVIRONMENT, "no space left", str(mnt))
    assert snapshot(mnt) == set()


@pytest.mark.integration
def test_full_disk_cache(work, capsys, world_repos, tiny_fs):
    w, _ = world_repos
    mnt = tiny_fs("1m")
    code, _, err = wcb(*["build", "--role", "mq-node", "--out", str(work / "out"), "--cache", str(mnt)]
                           + w.repo_args("file://" + str(w.root)))
    assert_clean_error(code, err, EXIT_ENVIRONMENT, "no space left")
    assert not [p for p in snapshot(mnt) if p.endswith(".part")]
    assert snapshot(work / "out") == set()
