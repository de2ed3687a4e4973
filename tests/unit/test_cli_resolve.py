"""`wcbundle resolve` / `why` through bundler.cli.main: output streams, exit codes, bad input."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from bundler.cli import main
from bundler.core import paths

C7 = Path(__file__).resolve().parents[1] / "data" / "realmeta" / "centos7.5-dvd-x86_64"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("wcb-cache-cli"))


def wcb(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def resolve_args(cache, *extra):
    return ["resolve", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}", *extra]


def assert_clean_error(code, out, err, expected_code, *phrases):
    assert code == expected_code, err
    assert out == ""
    assert "Traceback" not in err
    assert sum(line.startswith("Error: ") for line in err.splitlines()) == 1
    for phrase in phrases:
        assert phrase in err, err


def test_json_goes_to_stdout_logs_to_stderr(cache, capsys):
    code, out, err = wcb(capsys, *resolve_args(cache, "--install", "mariadb-server",
                                               "--install", "java-1.8.0-openjdk-headless", "--baseline", "none",
                                               "--json"))
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"el", "arch", "roles", "packages", "repos", "baseline", "lock_version", "modules"}
    assert data["el"] == 7 and data["arch"] == "x86_64"
    assert set(data["roles"]["custom"]) == {"install", "upgrade", "requested", "replaced", "satisfied", "reinstall",
                                            "downgrade"}
    assert len(data["roles"]["custom"]["install"]) == 162
    pkg = data["packages"][0]
    assert set(pkg) >= {"name", "epoch", "version", "release", "arch", "repo", "location", "checksum", "size",
                        "roles", "why", "url", "upgrade_of"}
    assert "solving role custom" in err


def test_human_table_and_lock_file(cache, capsys, tmp_path):
    code, out, err = wcb(capsys, *resolve_args(cache, "--install", "mariadb-server", "-o", str(tmp_path / "l.json")))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("EL7 x86_64, baseline minimal (@core,")
    custom = next(line.split() for line in lines if line.startswith("custom"))
    assert custom[1].isdigit() and int(custom[1]) > 5 and custom[2] == "0" and custom[3] == "0" and custom[5] == "MiB"
    assert json.loads((tmp_path / "l.json").read_text())["roles"]["custom"]["requested"] == ["mariadb-server"]


def test_why(cache, capsys):
    code, out, _ = wcb(capsys, "why", "perl-DBI", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}",
                       "--install", "mariadb-server")
    assert code == 0 and out == "custom: mariadb-server -> perl-DBI\n"
    code, out, err = wcb(capsys, "why", "bash", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}",
                         "--install", "mariadb-server")
    assert_clean_error(code, out, err, 4, "'bash' is not in the resolved closure", "baseline minimal")


def test_default_manifest_roles_need_the_vendor_repos(cache, capsys):
    code, out, err = wcb(capsys, *resolve_args(cache, "--role", "db-node"))
    assert_clean_error(code, out, err, 4, "no package named 'MariaDB-server'", "Did you mean: mariadb-server")


def test_unknown_package_suggests_names(cache, capsys):
    code, out, err = wcb(capsys, *resolve_args(cache, "--install", "java-1.8.0-openjdk-headles"))
    assert_clean_error(code, out, err, 4, "no package named 'java-1.8.0-openjdk-headles'",
                       "Did you mean: java-1.8.0-openjdk-headless")


def test_unsatisfiable(cache, capsys, tmp_path):
    man = tmp_path / "m.yaml"
    man.write_text(paths.DEFAULT_MANIFEST.read_text().replace('excludepkgs: ["erlang*"]',
                                                              'excludepkgs: ["erlang*", "glibc"]', 1))
    code, out, err = wcb(capsys, *resolve_args(cache, "--manifest", str(man), "--install", "rsync",
                                               "--baseline", "none"))
    assert_clean_error(code, out, err, 4, "role 'custom' cannot be resolved", "Chain: rsync")


def test_broken_yaml_and_unknown_key(cache, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nroles: {a: [\n")
    code, out, err = wcb(capsys, *resolve_args(cache, "--manifest", str(bad), "--install", "rsync"))
    assert_clean_error(code, out, err, 3, f"{bad}:3:1: malformed YAML")
    bad.write_text(paths.DEFAULT_MANIFEST.read_text().replace("weak-deps: false", "weak-dep: false"))
    code, out, err = wcb(capsys, *resolve_args(cache, "--manifest", str(bad), "--install", "rsync"))
    assert_clean_error(code, out, err, 3, "unknown key 'weak-dep'", "Did you mean 'weak-deps'?")


def test_incompatible_pins_exit_4(cache, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(paths.DEFAULT_MANIFEST.read_text().replace('rabbitmq: "3.9.16"', 'rabbitmq: "3.13.7"'))
    code, out, err = wcb(capsys, *resolve_args(cache, "--manifest", str(bad), "--install", "rsync"))
    assert_clean_error(code, out, err, 4, "EL7 pins RabbitMQ 3.13.7 with Erlang 23.3.4.18")


def test_bad_options_exit_3(cache, capsys, tmp_path):
    code, out, err = wcb(capsys, "resolve", "--cache", cache, "--repo", "c7-os", "--install", "rsync")
    assert_clean_error(code, out, err, 3, "--repo 'c7-os' is not ID=URL")
    code, out, err = wcb(capsys, *resolve_args(cache, "--install", "rsync", "--baseline", str(tmp_path / "nope")))
    assert_clean_error(code, out, err, 3, "is neither minimal, none nor a readable capture file")
    code, out, err = wcb(capsys, *resolve_args(cache, "--role", "web-node"))
    assert_clean_error(code, out, err, 3, "unknown role(s): web-node", "app-node, arbitrator, control-node, db-node, mq-node")
    capture = tmp_path / "cap.txt"
    capture.write_text("bash-0:4.2.46-30.el7.x86_64\tP:bash\nnot a package\n")
    code, out, err = wcb(capsys, *resolve_args(cache, "--install", "rsync", "--baseline", str(capture)))
    assert_clean_error(code, out, err, 3, f"{capture}:2: 'not a package' is not a NEVRA", "rpm -qa --qf")


def test_unreachable_metadata_exit_5(cache, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/c7/"
    code, out, err = wcb(capsys, "resolve", "--cache", cache, "--repo", f"c7-os={url}", "--install", "rsync")
    assert_clean_error(code, out, err, 5, "cannot read the metadata of repo 'c7-os'", url + "repodata/repomd.xml",
                       "connection refused: nothing listens on that host and port")
    assert "Error (" not in err and "ConnectionRefusedError" not in err, err  # words, not class names


def test_checksum_failing_metadata_exit_5(cache, capsys, tmp_path):
    copy = tmp_path / "c7"
    shutil.copytree(C7, copy)
    primary = next((copy / "repodata").glob("*-primary.xml.gz"))
    data = bytearray(primary.read_bytes())
    data[-20] ^= 0x01
    primary.write_bytes(bytes(data))
    code, out, err = wcb(capsys, "resolve", "--cache", str(tmp_path / "cache"), "--repo", f"c7-os={copy.as_uri()}",
                         "--install", "rsync", "--baseline", "none")
    assert_clean_error(code, out, err, 5, "checksum mismatch for primary metadata", primary.name,
                       "repomd.xml says sha256:2c50202e")
