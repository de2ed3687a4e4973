"""`wcbundle sources [--check]` against the EL7 fixture world served on 127.0.0.1 (issue 17).

A manifest written here points at the world: its repos over HTTP with the world's keys and
pins, and the world's erlang RPM as a key-pinned direct RPM. Each broken-source case is one
edit of that manifest: a dead repo (a port nothing listens on), a wrong key pin, a pinned
version the repo does not carry, a direct RPM that answers 404.
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from bundler.cli import main

pytestmark = [pytest.mark.integration]


def dead_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/el7/c7-extras/"


def world_manifest(world, *, mariadb_pin="10.11.11", c7_pin=None, c7_url=None, erlang_file=None,
                   repo_gpgcheck=False, size=None) -> str:
    w = world.world
    fpr = w.fingerprints
    erlang_rpm = erlang_file or next((w.repos["erlang"] / "Packages").glob("erlang-23.3.4.18-*.rpm")).name
    def repo(rid, url=None, pin=None, extra=""):
        return (f"      - id: {rid}\n        baseurls: [\"{url or world.repo_url(rid)}\"]\n"
                f"        gpgkeys: [\"{w.keys[rid].resolve().as_uri()}\"]\n"
                f"        fingerprints: [\"{pin or fpr[rid]}\"]\n{extra}")
    gpgcheck = "        repo-gpgcheck: true\n" if repo_gpgcheck else ""
    size_line = f"        size: {size}" if size is not None else ""
    return f"""name: world
roles:
  db-node: {{packages: [MariaDB-server]}}
  mq-node: {{packages: [erlang]}}
pin-packages:
  mariadb: ["MariaDB-*"]
  erlang: ["erlang", "erlang-*"]
el:
  "7":
    base-repo: c7-os
    pins: {{mariadb: "{mariadb_pin}", erlang: "23.3.4.18"}}
    repos:
{repo("c7-os", pin=c7_pin)}{repo("c7-extras", url=c7_url)}{repo("mariadb", extra=gpgcheck)}    direct-rpms:
      - id: erlang
        url: "{world.repo_url("erlang")}Packages/{erlang_rpm}"
        roles: [mq-node]
        gpgkey: ["{w.keys["erlang"].resolve().as_uri()}"]
        fingerprints: ["{fpr["erlang"]}"]
{size_line}
"""


def sources(capsys, tmp_path, text, *args):
    man = tmp_path / "m.yaml"
    man.write_text(text)
    capsys.readouterr()
    t0 = time.monotonic()
    rc = main(["sources", "--manifest", str(man), *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err, time.monotonic() - t0


def lines(out: str) -> dict[str, str]:
    """'EL7 repo c7-os' -> its line."""
    got = {}
    for line in out.splitlines():
        parts = line.split(":", 1)[0].split()
        if len(parts) == 4:
            got[" ".join(parts[1:])] = line
    return got


def test_listing_names_every_source_with_its_pins(world_el7, tmp_path, capsys):
    rc, out, err, _ = sources(capsys, tmp_path, world_manifest(world_el7), "--el", "7")
    assert rc == 0, err
    fpr = world_el7.world.fingerprints["c7-os"]
    assert "repo c7-os" in out and "direct-rpm erlang" in out and "pinned by its signing key (no sha256)" in out
    assert " ".join(fpr[i:i + 4] for i in range(0, 40, 4)) in out
    assert "pins: mariadb 10.11.11, erlang 23.3.4.18" in out


def test_check_of_a_healthy_world_is_all_ok(world_el7, tmp_path, capsys):
    rpm = next((world_el7.repos["erlang"] / "Packages").glob("erlang-23.3.4.18-*.rpm"))
    text = world_manifest(world_el7, repo_gpgcheck=True, size=rpm.stat().st_size)
    rc, out, err, secs = sources(capsys, tmp_path, text, "--check")
    assert rc == 0, out + err
    got = lines(out)
    assert set(got) == {"EL7 repo c7-os", "EL7 repo c7-extras", "EL7 repo mariadb", "EL7 direct-rpm erlang"}
    assert all(line.startswith("ok ") for line in got.values()), out
    assert "pin mariadb 10.11.11: present" in got["EL7 repo mariadb"]
    assert "repomd.xml.asc: signed by" in got["EL7 repo mariadb"] and "age 0 days" in got["EL7 repo mariadb"]
    assert f"reachable, {rpm.stat().st_size} bytes as expected" in got["EL7 direct-rpm erlang"]
    assert "pin erlang 23.3.4.18: the file is 23.3.4.18" in got["EL7 direct-rpm erlang"]
    assert "4 of 4 sources ok" in out and secs < 60


def test_dead_repo_is_unreachable_exit_5(world_el7, tmp_path, capsys):
    rc, out, err, secs = sources(capsys, tmp_path, world_manifest(world_el7, c7_url=dead_url()), "--check")
    assert rc == 5, out + err
    line = lines(out)["EL7 repo c7-extras"]
    assert line.startswith("FAIL") and "unreachable" in line and "connection refused" in line.lower()
    assert lines(out)["EL7 repo c7-os"].startswith("ok ") and secs < 60


def test_wrong_key_is_exit_7_naming_expected_and_actual(world_el7, tmp_path, capsys):
    wrong = world_el7.world.fingerprints["mariadb"]   # a real key, but not c7-os's
    rc, out, err, _ = sources(capsys, tmp_path, world_manifest(world_el7, c7_pin=wrong), "--check")
    assert rc == 7, out + err
    line = lines(out)["EL7 repo c7-os"]
    assert line.startswith("KEY") and f"expected fingerprint {wrong}" in line
    assert f"actual {world_el7.world.fingerprints['c7-os']}" in line


def test_missing_pinned_version_is_exit_5(world_el7, tmp_path, capsys):
    rc, out, err, _ = sources(capsys, tmp_path, world_manifest(world_el7, mariadb_pin="10.11.99"), "--check")
    assert rc == 5, out + err
    line = lines(out)["EL7 repo mariadb"]
    assert line.startswith("FAIL") and "pin mariadb 10.11.99: no package of that version here" in line
    assert "10.11.11" in line  # what is there instead


def test_direct_rpm_404_is_exit_5(world_el7, tmp_path, capsys):
    text = world_manifest(world_el7, erlang_file="erlang-23.3.4.18-9.el7.x86_64.rpm")
    rc, out, err, _ = sources(capsys, tmp_path, text, "--check", "--json")
    assert rc == 5, out + err
    data = json.loads(out)
    (erl,) = [s for s in data["sources"] if s["id"] == "erlang"]
    assert erl["check"]["verdict"] == "unreachable" and any("HTTP 404" in n for n in erl["check"]["notes"])
    assert data["exit_code"] == 5


def test_stale_metadata_by_max_age(world_el7, tmp_path, capsys):
    rc, out, err, _ = sources(capsys, tmp_path, world_manifest(world_el7), "--check", "--max-age", "0")
    assert rc == 5 and "more than --max-age 0" in out, out + err


def test_unknown_el_is_an_input_error(world_el7, tmp_path, capsys):
    rc, out, err, _ = sources(capsys, tmp_path, world_manifest(world_el7), "--el", "9")
    assert rc == 3 and "no section for EL9" in err and out == ""


def test_every_probe_is_bounded_in_time(world_el7, mirror_factory, tmp_path, capsys, monkeypatch):
    """A mirror that stalls (headers, then nothing) or trickles (a byte a second) is given up on
    within the probe bounds, and the check goes on with the other sources."""
    import bundler.resolve.sources as srcmod
    from scripts.mirror import Fault
    monkeypatch.setattr(srcmod, "PROBE_TIMEOUT", (2.0, 2.0))
    monkeypatch.setattr(srcmod, "BODY_SECONDS", 3.0)
    stall = mirror_factory(world_el7.root, stall_seconds=10, faults=[
        Fault("*/c7-extras/repodata/repomd.xml", "stall"), Fault("*/mariadb/repodata/repomd.xml", "trickle")])
    text = world_manifest(world_el7, c7_url=f"{stall.url}/el7/c7-extras/")
    text = text.replace(world_el7.repo_url("mariadb"), f"{stall.url}/el7/mariadb/")
    rc, out, err, secs = sources(capsys, tmp_path, text, "--check")
    got = lines(out)
    assert rc == 5, out + err
    assert got["EL7 repo c7-extras"].startswith("FAIL") and re.search("timed out|read timeout", got["EL7 repo c7-extras"].lower())
    assert got["EL7 repo mariadb"].startswith("FAIL") and ("trickling" in got["EL7 repo mariadb"]
                                                          or re.search("timed out|read timeout", got["EL7 repo mariadb"].lower()))
    assert got["EL7 repo c7-os"].startswith("ok ")
    assert secs < 25, secs
