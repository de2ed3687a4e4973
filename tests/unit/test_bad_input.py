"""Bad input (issue 7 section 4): each case gives one clear paragraph, a documented exit code,
no traceback, and leaves nothing behind.

Cases run through `bundler.cli.main([...])` in-process (stdout/stderr captured).
The resolver cases that need packages (unknown package, unsatisfiable, baseline
capture) and the full-disk build use the fixture world through file:// repos
(no network); they are marked `integration`. The full disk is a real tmpfs
mounted with `mount -t tmpfs -o size=...` (the tests skip when mounting is not
permitted, and say so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_verify import default_files, make_bundle

from bundler.cli import main
from bundler.core.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INPUT,
    EXIT_RESOLVE,
    EXIT_USAGE,
)
from bundler.core.paths import DEFAULT_MANIFEST, MANIFESTS

NO_REPO = ["--repo", "c7-os=file:///nonexistent-wcbundle-repo/"]   # never reached: input fails first


def run_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, want_code: int, *needles: str) -> str:
    assert code == want_code, err
    assert "Traceback" not in err and "Internal error" not in err, err
    msg = err[err.index("Error:"):] if "Error:" in err else err
    for n in needles:
        assert n in msg, msg
    # one paragraph: the message and at most a hint line, no dump
    assert len(msg.strip().splitlines()) <= 4, msg
    return msg


def snapshot(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def manifest_variant(work: Path, name: str, change) -> Path:
    doc = yaml.safe_load(DEFAULT_MANIFEST.read_text())
    change(doc)
    p = work / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def test_malformed_yaml_line_and_column(work, capsys):
    bad = work / "bad.yaml"
    bad.write_text("name: x\nroles:\n  db-node: [a\n   b: c\n")
    code, _, err = run_cli(capsys, ["resolve", "--manifest", str(bad), "--cache", str(work / "c")] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "bad.yaml:4:5", "malformed YAML")
    assert snapshot(work / "c") == set()


def test_unknown_key_with_key_path(work, capsys):
    def change(d):
        d["roles"]["db-node"]["pakages"] = d["roles"]["db-node"].pop("packages")
    p = manifest_variant(work, "unk.yaml", change)
    code, _, err = run_cli(capsys, ["resolve", "--manifest", str(p)] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "roles.db-node.pakages", "unknown key", "packages")


def test_wrong_type(work, capsys):
    p = manifest_variant(work, "type.yaml", lambda d: d.update({"weak-deps": "maybe"}))
    code, _, err = run_cli(capsys, ["resolve", "--manifest", str(p)] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "weak-deps", "maybe")


def test_unknown_el(work, capsys):
    code, _, err = run_cli(capsys, ["resolve", "--el", "6"] + NO_REPO)
    assert_clean_error(code, err, EXIT_USAGE, "--el", "EL '6' is not supported", "EL 7, 8 and 9")


def test_unknown_role(work, capsys):
    empty = work / "emptyrepo"
    empty.mkdir()
    code, _, err = run_cli(capsys, ["resolve", "--role", "web-node", "--repo", f"c7-os={empty}",
                                    "--cache", str(work / "c")])
    assert_clean_error(code, err, EXIT_INPUT, "unknown role(s): web-node", "db-node")


def test_incompatible_erlang_rabbitmq_pins(work, capsys):
    p = manifest_variant(work, "compat.yaml", lambda d: d["el"]["7"]["pins"].update({"erlang": "26.2.5"}))
    code, _, err = run_cli(capsys, ["resolve", "--manifest", str(p), "--cache", str(work / "c")] + NO_REPO)
    assert_clean_error(code, err, EXIT_RESOLVE, "RabbitMQ 3.9.16", "Erlang 26.2.5", "Nothing was downloaded")
    assert snapshot(work / "c") == set()


def _site_doc() -> dict:
    return yaml.safe_load((MANIFESTS / "site.example.yaml").read_text())


def test_site_duplicate_ips(work, capsys):
    doc = _site_doc()
    doc["nodes"][1]["ip"] = doc["nodes"][0]["ip"]
    site = work / "site.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = run_cli(capsys, ["plan", "--site", str(site), "--out", str(work / "plan")])
    assert_clean_error(code, err, EXIT_INPUT, "site.yaml", doc["nodes"][0]["ip"])
    assert snapshot(work / "plan") == set()


def test_site_even_number_of_galera_voters(work, capsys):
    doc = _site_doc()
    for node in doc["nodes"]:
        node["roles"] = [r for r in node["roles"] if r != "arbitrator"]
    doc["nodes"] = [n for n in doc["nodes"] if n["roles"]]
    voters = [n for n in doc["nodes"] if "db-node" in n["roles"]]
    if len(voters) % 2:
        doc["nodes"].remove(voters[-1])
    site = work / "site.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = run_cli(capsys, ["plan", "--site", str(site), "--out", str(work / "plan")])
    msg = assert_clean_error(code, err, EXIT_INPUT, "site.yaml")
    assert "even" in msg or "odd" in msg, msg
    assert snapshot(work / "plan") == set()


def test_baseline_capture_missing(work, capsys):
    code, _, err = run_cli(capsys, ["resolve", "--baseline", str(work / "nope.txt")] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "--baseline", "nope.txt")


def test_bad_split_size_and_verify_target(work, capsys):
    tar = make_bundle(work, default_files())
    code, _, err = run_cli(capsys, ["split", str(tar), "4G"])
    assert_clean_error(code, err, EXIT_INPUT, "4 GiB")
    code, _, err = run_cli(capsys, ["split", str(tar), "lots"])
    assert_clean_error(code, err, EXIT_INPUT, "'lots' is not a size")
    assert not list(work.glob("*.part[0-9]*"))
    code, _, err = run_cli(capsys, ["verify", "--require-signature", "DEADBEEF", str(tar)])
    assert_clean_error(code, err, EXIT_INPUT, "not a full key fingerprint")
    code, _, err = run_cli(capsys, ["verify", str(work / "missing.tar")])
    assert_clean_error(code, err, EXIT_USAGE, "no such bundle")


# --------------------------------------------------------------------- full disk (real tmpfs)

@pytest.fixture
def tiny_fs(tmp_path):
    """Mount a small tmpfs; yields (path, mount(size)) and unmounts at the end."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = []

    def mount(size: str) -> Path:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=True)
            mounted.clear()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip()}); full-disk case not run")
        mounted.append(True)
        return mnt

    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root; full-disk case not run")
    yield mount
    if mounted:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_split(work, capsys, tiny_fs):
    tar = make_bundle(work, default_files(payload=200_000))
    mnt = tiny_fs("300k")           # the tar fits, its parts do not
    shutil.copy(tar, mnt)
    shutil.copy(tar.with_name(tar.name + ".sha256"), mnt)
    before = snapshot(mnt)
    code, _, err = run_cli(capsys, ["split", str(mnt / tar.name), "50K"])
    assert_clean_error(code, err, EXIT_ENVIRONMENT, "free space", tar.name)
    assert snapshot(mnt) - before <= {"join.sh"}, snapshot(mnt) - before


# --------------------------------------------------------------------- cases that need packages (world)

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
    code, _, err = run_cli(capsys, ["resolve", "--install", "MariaDB-servr", "--cache", str(work / "c")]
                           + repo_flags(repos))
    assert_clean_error(code, err, EXIT_RESOLVE, "MariaDB-servr", "Did you mean", "MariaDB-server")


@pytest.mark.integration
def test_unsatisfiable_names_problem_and_chain(work, capsys, world_repos):
    _, repos = world_repos
    code, _, err = run_cli(capsys, ["resolve", "--install", "erlang", "--cache", str(work / "c")]
                           + repo_flags(repos, "c7-updates", "mariadb", "rabbitmq", "c7-extras"))
    assert_clean_error(code, err, EXIT_RESOLVE, "nothing provides openssl-libs", "needed by erlang-23.3.4.18",
                       "Chain: erlang -> openssl-libs")


@pytest.mark.integration
def test_unreadable_baseline_capture(work, capsys, world_repos):
    _, repos = world_repos
    garbage = work / "capture.txt"
    garbage.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli(capsys, ["resolve", "--baseline", str(garbage), "--role", "mq-node",
                                    "--cache", str(work / "c")] + repo_flags(repos))
    assert_clean_error(code, err, EXIT_INPUT, "capture.txt")


@pytest.mark.integration
def test_full_disk_build_output(work, capsys, world_repos, tiny_fs):
    w, _ = world_repos
    mnt = tiny_fs("1m")
    code, _, err = run_cli(capsys, ["build", "--role", "mq-node", "--out", str(mnt), "--cache", str(work / "c")]
                           + w.repo_args("file://" + str(w.root)))
    assert_clean_error(code, err, EXIT_ENVIRONMENT, "no space left", str(mnt))
    assert snapshot(mnt) == set()


@pytest.mark.integration
def test_full_disk_cache(work, capsys, world_repos, tiny_fs):
    w, _ = world_repos
    mnt = tiny_fs("1m")
    code, _, err = run_cli(capsys, ["build", "--role", "mq-node", "--out", str(work / "out"), "--cache", str(mnt)]
                           + w.repo_args("file://" + str(w.root)))
    assert_clean_error(code, err, EXIT_ENVIRONMENT, "no space left")
    assert not [p for p in snapshot(mnt) if p.endswith(".part")]
    assert snapshot(work / "out") == set()
