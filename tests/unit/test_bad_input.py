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

import shutil
from pathlib import Path

import yaml
from test_verify import default_files, make_bundle

from bundler.core.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INPUT,
    EXIT_RESOLVE,
    EXIT_USAGE,
)
from bundler.core.paths import DEFAULT_MANIFEST, MANIFESTS
from tests.support.cli import assert_clean_error, snapshot, wcb

NO_REPO = ["--repo", "c7-os=file:///nonexistent-wcbundle-repo/"]   # never reached: input fails first


def manifest_variant(work: Path, name: str, change) -> Path:
    doc = yaml.safe_load(DEFAULT_MANIFEST.read_text())
    change(doc)
    p = work / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def test_malformed_yaml_line_and_column(work, capsys):
    bad = work / "bad.yaml"
    bad.write_text("name: x\nroles:\n  db-node: [a\n   b: c\n")
    code, _, err = wcb(*["resolve", "--manifest", str(bad), "--cache", str(work / "c")] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "bad.yaml:4:5", "malformed YAML")
    assert snapshot(work / "c") == set()


def test_unknown_key_with_key_path(work, capsys):
    def change(d):
        d["roles"]["db-node"]["pakages"] = d["roles"]["db-node"].pop("packages")
    p = manifest_variant(work, "unk.yaml", change)
    code, _, err = wcb(*["resolve", "--manifest", str(p)] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "roles.db-node.pakages", "unknown key", "packages")


def test_wrong_type(work, capsys):
    p = manifest_variant(work, "type.yaml", lambda d: d.update({"weak-deps": "maybe"}))
    code, _, err = wcb(*["resolve", "--manifest", str(p)] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "weak-deps", "maybe")


def test_unknown_el(work, capsys):
    code, _, err = wcb(*["resolve", "--el", "6"] + NO_REPO)
    assert_clean_error(code, err, EXIT_USAGE, "--el", "EL '6' is not supported", "EL 7, 8 and 9")


def test_unknown_role(work, capsys):
    empty = work / "emptyrepo"
    empty.mkdir()
    code, _, err = wcb(*["resolve", "--role", "web-node", "--repo", f"c7-os={empty}",
                                    "--cache", str(work / "c")])
    assert_clean_error(code, err, EXIT_INPUT, "unknown role(s): web-node", "db-node")


def test_incompatible_erlang_rabbitmq_pins(work, capsys):
    p = manifest_variant(work, "compat.yaml", lambda d: d["el"]["7"]["pins"].update({"erlang": "26.2.5"}))
    code, _, err = wcb(*["resolve", "--manifest", str(p), "--cache", str(work / "c")] + NO_REPO)
    assert_clean_error(code, err, EXIT_RESOLVE, "RabbitMQ 3.9.16", "Erlang 26.2.5", "Nothing was downloaded")
    assert snapshot(work / "c") == set()


def _site_doc() -> dict:
    return yaml.safe_load((MANIFESTS / "site.example.yaml").read_text())


def test_site_duplicate_ips(work, capsys):
    doc = _site_doc()
    doc["nodes"][1]["ip"] = doc["nodes"][0]["ip"]
    site = work / "site.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = wcb(*["plan", "--site", str(site), "--out", str(work / "plan")])
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
    code, _, err = wcb(*["plan", "--site", str(site), "--out", str(work / "plan")])
    msg = assert_clean_error(code, err, EXIT_INPUT, "site.yaml")
    assert "even" in msg or "odd" in msg, msg
    assert snapshot(work / "plan") == set()


def test_baseline_capture_missing(work, capsys):
    code, _, err = wcb(*["resolve", "--baseline", str(work / "nope.txt")] + NO_REPO)
    assert_clean_error(code, err, EXIT_INPUT, "--baseline", "nope.txt")


def test_bad_split_size_and_verify_target(work, capsys):
    tar = make_bundle(work, default_files())
    code, _, err = wcb(*["split", str(tar), "4G"])
    assert_clean_error(code, err, EXIT_INPUT, "4 GiB")
    code, _, err = wcb(*["split", str(tar), "lots"])
    assert_clean_error(code, err, EXIT_INPUT, "'lots' is not a size")
    assert not list(work.glob("*.part[0-9]*"))
    code, _, err = wcb(*["verify", "--require-signature", "DEADBEEF", str(tar)])
    assert_clean_error(code, err, EXIT_INPUT, "not a full key fingerprint")
    code, _, err = wcb(*["verify", str(work / "missing.tar")])
    assert_clean_error(code, err, EXIT_USAGE, "no such bundle")


# --------------------------------------------------------------------- full disk (real tmpfs)

def test_full_disk_split(work, capsys, tiny_fs):
    tar = make_bundle(work, default_files(payload=200_000))
    mnt = tiny_fs("300k")           # the tar fits, its parts do not
    shutil.copy(tar, mnt)
    shutil.copy(tar.with_name(tar.name + ".sha256"), mnt)
    before = snapshot(mnt)
    code, _, err = wcb(*["split", str(mnt / tar.name), "50K"])
    assert_clean_error(code, err, EXIT_ENVIRONMENT, "free space", tar.name)
    assert snapshot(mnt) - before <= {"join.sh"}, snapshot(mnt) - before
