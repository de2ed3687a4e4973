"""The embedded manifest's sources (issue 17) and its citations (issue 16, point 20).

The manifest must stand on its own: it cites upstream sources (vendor docs, repositories, issue
numbers), never a path outside the project or a private "trap" list. Every repo and direct RPM
pins the full fingerprints of its keys, and the model refuses what is not a pin.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bundler.core import paths
from bundler.core.errors import ManifestError
from bundler.resolve.manifest import load_manifest, normalize_fingerprint, pin_matches
from bundler.resolve.solve import Selection

TEXT = paths.DEFAULT_MANIFEST.read_text()


def test_no_file_of_the_project_cites_private_notes():
    """The project stands on its own: it cites upstream sources, never a path outside the repository
    (review of issue 17: scripts/world/model.py cited ../shared/docs/domain-facts.md)."""
    root = Path(__file__).resolve().parents[2]
    me = Path(__file__).resolve()
    skip = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
    needles = ("shared/docs", "../shared/", "domain-facts.md")
    hits = []
    for path in root.rglob("*"):
        if skip.intersection(path.relative_to(root).parts) or not path.is_file() or path == me:
            continue
        if path.stat().st_size > 2_000_000 or path.suffix in (".rpm", ".tar", ".gz", ".pyc"):
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        hits += [f"{path.relative_to(root)}: {n}" for n in needles if n in text]
    assert hits == []


def test_manifest_cites_upstream_sources_not_private_notes():
    assert "shared/docs" not in TEXT and "domain-facts" not in TEXT
    assert not re.search(r"\(trap \d+\)", TEXT, re.IGNORECASE)
    for cited in ("rabbitmq-website", "rabbitmq/erlang-rpm", "mydumper/mydumper #1866", "MariaDB/mariadb-docker",
                  "rockylinux.org", "centos.org"):
        assert cited in TEXT, cited


def test_every_source_is_pinned_by_full_fingerprints_and_says_when_it_was_confirmed():
    man = load_manifest()
    for el, conf in man.el.items():
        for r in conf.repos:
            assert r.fingerprints and all(re.fullmatch(r"[0-9A-F]{40}", f) for f in r.fingerprints), (el, r.id)
        for d in conf.direct_rpms:
            assert d.fingerprints and d.gpgkey, (el, d.url)
    assert TEXT.count("confirmed 2026-11-29") >= 6
    assert "NOT CONFIRMED" in TEXT  # the Cloudsmith rabbitmq-server key: said, not invented


def test_el7_sources_are_the_published_ones():
    conf = load_manifest().for_el(7)
    assert conf.pins["mariadb"] == "10.11.11"
    assert conf.repo("mariadb").baseurls == ["https://dlm.mariadb.com/repo/mariadb-server/10.11.11/yum/rhel/7/x86_64/"]
    assert not any("packagecloud" in u for r in conf.repos for u in r.baseurls + r.gpgkeys)
    urls = {d.id: d.url for d in conf.direct_rpms}
    assert urls == {
        "erlang": "https://github.com/rabbitmq/erlang-rpm/releases/download/v23.3.4.18/erlang-23.3.4.18-1.el7.x86_64.rpm",
        "rabbitmq": "https://github.com/rabbitmq/rabbitmq-server/releases/download/v3.9.16/"
                    "rabbitmq-server-3.9.16-1.el7.noarch.rpm"}
    assert all(d.fingerprints == ["0A9AF2115F4687BD29803A206B73A36E6026DFCA"] and not d.sha256
               for d in conf.direct_rpms)


def test_rabbitmq_team_repos_check_their_metadata_signature():
    man = load_manifest()
    for el in (8, 9):
        marked = {r.id for r in man.for_el(el).repos if r.repo_gpgcheck}
        assert marked == {"erlang", "rabbitmq"}


@pytest.mark.parametrize("text, want", [
    ("0A9A F211 5F46 87BD 2980  3A20 6B73 A36E 6026 DFCA", "0A9AF2115F4687BD29803A206B73A36E6026DFCA"),
    ("0x0a9af2115f4687bd29803a206b73a36e6026dfca", "0A9AF2115F4687BD29803A206B73A36E6026DFCA"),
    ("6B73A36E6026DFCA", ""), ("not hex" * 6, "")])
def test_fingerprints_are_normalized_and_short_ids_refused(text, want):
    assert normalize_fingerprint(text) == want


def write(tmp: Path, text: str) -> Path:
    p = tmp / "m.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("old, new, phrase", [
    ('        fingerprints: ["6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"]\n',
     '        fingerprints: ["F4A80EB5"]\n', "a short key id is not a pin"),
    ('        fingerprints: ["0A9AF2115F4687BD29803A206B73A36E6026DFCA"]\n      - id: rabbitmq\n',
     '      - id: rabbitmq\n', "neither a sha256 nor key fingerprints"),
    ('      - id: rabbitmq\n', '      - id: mariadb\n', "duplicate repo id(s): mariadb"),
])
def test_bad_pins_are_refused(tmp_path, old, new, phrase):
    assert old in TEXT
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, TEXT.replace(old, new, 1)))
    assert phrase in err.value.render()


def test_a_repo_override_stands_in_for_a_direct_rpm_and_keeps_its_pins():
    man = load_manifest()
    sel = Selection(el=7, manifest_path=paths.DEFAULT_MANIFEST, repos={"erlang": "https://mirror.example/erlang/"})
    (conf,) = man.effective_repos(sel)
    assert conf.id == "erlang" and conf.baseurls == ["https://mirror.example/erlang/"]
    assert conf.fingerprints == ["0A9AF2115F4687BD29803A206B73A36E6026DFCA"]
    sel.gpgkeys = {"erlang": ["file:///k"]}   # a --gpgkey alone keeps the vendor pin
    assert man.effective_repos(sel)[0].fingerprints == ["0A9AF2115F4687BD29803A206B73A36E6026DFCA"]
    sel.fingerprints = {"erlang": ["A" * 40]}  # --key-fingerprint replaces it
    assert man.effective_repos(sel)[0].fingerprints == ["A" * 40]


def test_rabbitmq_server_repo_checks_packages_with_the_release_key_and_metadata_with_cloudsmiths():
    """The Cloudsmith rabbitmq-server key has no published full fingerprint: it signs only the metadata
    (pinned by the vendor's 64-bit key id); the packages need the release key, pinned in full."""
    man = load_manifest()
    for el in (8, 9):
        r = man.for_el(el).repo("rabbitmq")
        assert r.gpgkeys == ["https://github.com/rabbitmq/signing-keys/releases/download/3.0/"
                             "rabbitmq-release-signing-key.asc"]
        assert r.fingerprints == ["0A9AF2115F4687BD29803A206B73A36E6026DFCA"]
        assert r.metadata_gpgkeys == ["https://github.com/rabbitmq/signing-keys/releases/download/3.0/"
                                      "cloudsmith.rabbitmq-server.9F4587F226208342.key"]
        assert r.metadata_pins == ["9F4587F226208342"] and r.repo_gpgcheck
        assert r.metadata_keys() == (r.metadata_gpgkeys, r.metadata_pins)
        erl = man.for_el(el).repo("erlang")
        assert not erl.metadata_gpgkeys and erl.metadata_keys() == (erl.gpgkeys, erl.fingerprints)


@pytest.mark.parametrize("fpr, pins, want", [
    ("A16A42516F6A691BC1FF5621E495BB49CC4BBE5B", ["E495BB49CC4BBE5B"], True),
    ("A16A42516F6A691BC1FF5621E495BB49CC4BBE5B", ["A16A42516F6A691BC1FF5621E495BB49CC4BBE5B"], True),
    ("A16A42516F6A691BC1FF5621E495BB49CC4BBE5B", ["A16A42516F6A691B"], False),     # a prefix is no key id
    ("A16A42516F6A691BC1FF5621E495BB49CC4BBE5B", ["CC4BBE5B"], False),             # 32 bits: never a pin
    ("A16A42516F6A691BC1FF5621E495BB49CC4BBE5B", [], False)])
def test_pin_matches_full_fingerprints_and_64_bit_key_ids_only(fpr, pins, want):
    assert pin_matches(fpr, pins) is want


METADATA_BLOCK = (
    '        metadata-gpgkeys:\n'
    '          - "https://github.com/rabbitmq/signing-keys/releases/download/3.0/'
    'cloudsmith.rabbitmq-server.9F4587F226208342.key"\n'
    '        metadata-pins: ["9F4587F226208342"]\n')


@pytest.mark.parametrize("new, phrase", [
    (METADATA_BLOCK.replace('["9F4587F226208342"]', '["26208342"]'), "nor a 64-bit key id (16 hex digits)"),
    (METADATA_BLOCK.replace('        metadata-pins: ["9F4587F226208342"]\n', ""), "go together"),
    (METADATA_BLOCK.replace("https://github.com", "ftp://github.com"), "is not an http(s):// or file:// URL"),
])
def test_bad_metadata_keys_are_refused(tmp_path, new, phrase):
    assert TEXT.count(METADATA_BLOCK) == 2
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, TEXT.replace(METADATA_BLOCK, new, 1)))
    assert phrase in err.value.render()


def test_metadata_keys_need_repo_gpgcheck(tmp_path):
    old = '        repo-gpgcheck: true\n        # Metadata (repomd.xml.asc)'
    assert old in TEXT
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, TEXT.replace(old, "        # Metadata (repomd.xml.asc)", 1)))
    assert "metadata-gpgkeys but not repo-gpgcheck: true" in err.value.render()


def test_key_fingerprint_override_drops_the_manifests_metadata_keys():
    """--key-fingerprint ID=FPR is a repo signed with your own key, metadata included; --gpgkey alone
    (a copy of the vendor key) keeps the vendor's metadata key and its pin."""
    man = load_manifest()
    sel = Selection(el=9, manifest_path=paths.DEFAULT_MANIFEST, repos={"rabbitmq": "https://mirror.example/rmq/"})
    sel.gpgkeys = {"rabbitmq": ["file:///k"]}
    (conf,) = man.effective_repos(sel)
    assert conf.metadata_pins == ["9F4587F226208342"] and conf.metadata_gpgkeys
    sel.fingerprints = {"rabbitmq": ["B" * 40]}
    (conf,) = man.effective_repos(sel)
    assert conf.metadata_keys() == (["file:///k"], ["B" * 40])
