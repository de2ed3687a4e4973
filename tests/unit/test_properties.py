"""Property-based tests (hypothesis): random input never escapes as anything but a WcbundleError.

* the manifest and site loaders get random YAML shapes: random documents, and the
  shipped files with a random subtree replaced by a random value;
* the archive verifier gets random member names/types, and a good bundle with one
  random byte changed, random bytes appended, or cut at a random length: those
  must all be refused (IntegrityError), never accepted and never crash.
"""

from __future__ import annotations

import copy
import io
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_verify import (
    TOP,
    _info,
    default_files,
    make_bundle,
    manifest_of,
    tree_entries,
    write_sidecar,
    write_tar,
)

from bundler.carry import verify
from bundler.core.errors import IntegrityError, WcbundleError
from bundler.core.paths import DEFAULT_MANIFEST, MANIFESTS
from bundler.resolve.manifest import load_manifest
from bundler.site.model import load_site

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = st.sampled_from(["name", "el", "7", "8", "9", "roles", "packages", "repos", "id", "baseurls", "pins",
                        "nodes", "ip", "vip", "address", "domain", "galera", "db-node", "mq-node", "extras",
                        "weak-deps", "base-repo", "rabbitmq-erlang-compat", "secrets", "app", "jar"]) | st.text(
    min_size=0, max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
           | st.text(max_size=20) | st.sampled_from(["10.0.0.1", "10.0.0.1", "3.9.16", "x86_64", "", "~"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=12)


def _load_quietly(loader, text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "in.yaml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            loader(p)
        except WcbundleError as exc:
            assert "Traceback" not in exc.render()
            assert exc.render().strip()


def _replace_at(doc, path: list[int], value):
    """Replace the subtree reached by following `path` (indices into keys/items) with value."""
    doc = copy.deepcopy(doc)
    node, parent, key = doc, None, None
    for step in path:
        if isinstance(node, dict) and node:
            k = sorted(node, key=str)[step % len(node)]
            parent, key, node = node, k, node[k]
        elif isinstance(node, list) and node:
            k = step % len(node)
            parent, key, node = node, k, node[k]
        else:
            break
    if parent is None:
        return value
    parent[key] = value
    return doc


MANIFEST_DOC = yaml.safe_load(DEFAULT_MANIFEST.read_text())
SITE_DOC = yaml.safe_load((MANIFESTS / "site.example.yaml").read_text())


LOADERS = {"manifest": (load_manifest, MANIFEST_DOC), "site": (load_site, SITE_DOC)}
LOADER_NAMES = pytest.mark.parametrize("which", sorted(LOADERS))


@LOADER_NAMES
@SETTINGS
@given(doc=VALUES)
def test_loader_random_documents(which, doc):
    _load_quietly(LOADERS[which][0], yaml.safe_dump(doc))


@LOADER_NAMES
@SETTINGS
@given(path=st.lists(st.integers(0, 50), max_size=6), value=VALUES)
def test_loader_mutated_subtree(which, path, value):
    loader, shipped = LOADERS[which]
    _load_quietly(loader, yaml.safe_dump(_replace_at(shipped, path, value)))


@LOADER_NAMES
@SETTINGS
@given(text=st.text(max_size=200))
def test_loader_random_text(which, text):
    _load_quietly(LOADERS[which][0], text)


NAME_PARTS = st.sampled_from(["..", ".", "", TOP, "lib", "a.tar", "x", "/", "\\", "C:", "é", "~"]) | st.text(
    max_size=6)
MEMBER_NAMES = st.lists(NAME_PARTS, min_size=1, max_size=5).map("/".join)
TYPES = st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE,
                         tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.CONTTYPE, b"7", b"V", b"x"])


@SETTINGS
@given(st.lists(st.tuples(MEMBER_NAMES, TYPES, st.binary(max_size=600), st.text(max_size=10)), max_size=5),
       st.booleans(), st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
def test_verifier_random_members(members, listed, fmt):
    """Random members added to a good bundle (optionally listed in MANIFEST): refused or, if harmless, fine."""
    files = default_files()
    extra = []
    for name, typ, data, link in members:
        payload = data if typ in (tarfile.REGTYPE, tarfile.CONTTYPE, b"7") else None
        extra.append((_info(name, payload if payload is not None else b"", type=typ, linkname=link),
                      payload))
        if listed and payload is not None and name.startswith(TOP + "/"):
            files.setdefault(name[len(TOP) + 1:], payload)
    with tempfile.TemporaryDirectory() as d:
        tree = default_files()
        tree["MANIFEST.sha256"] = manifest_of(files)
        try:
            tar = write_tar(Path(d) / "b.tar", tree_entries(tree) + extra, fmt=fmt)
        except (ValueError, UnicodeError, tarfile.TarError):
            return  # tarfile itself cannot write this name in this format
        try:
            info = verify.verify_bundle(tar)
        except IntegrityError:
            return
        # accepted: every added member was a plain file or directory with a clean name inside the top
        for name, typ, _, _ in members:
            assert typ in (tarfile.REGTYPE, tarfile.DIRTYPE), (name, typ)
            parts = name.split("/")
            assert parts[0] == TOP and not {"..", ".", ""} & set(parts[1:]), name
        assert info["top"] == TOP
        # and extracting it writes nothing outside the destination
        top = verify.extract_bundle(tar, Path(d) / "dest")
        outside = [p for p in Path(d).rglob("*") if not p.is_relative_to(Path(d) / "dest")
                   and p.name not in ("b.tar", "b.tar.sha256", "dest")]
        assert not outside and top == Path(d) / "dest" / TOP


_GOOD: dict[str, bytes] = {}


def _good_bundle() -> bytes:
    if "tar" not in _GOOD:
        with tempfile.TemporaryDirectory() as d:
            _GOOD["tar"] = make_bundle(Path(d)).read_bytes()
    return _GOOD["tar"]


def _check_refused(raw: bytes, sidecar_from: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        tar = Path(d) / f"{TOP}.tar"
        tar.write_bytes(sidecar_from)
        write_sidecar(tar)
        tar.write_bytes(raw)
        try:
            verify.verify_bundle(tar)
        except IntegrityError:
            return
        raise AssertionError("a changed bundle was accepted")


@SETTINGS
@given(st.data())
def test_any_single_byte_change_is_refused(data):
    good = _good_bundle()
    pos = data.draw(st.integers(0, len(good) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != good[pos]))
    raw = bytearray(good)
    raw[pos] = new
    _check_refused(bytes(raw), good)


@SETTINGS
@given(st.data())
def test_any_cut_or_append_is_refused_even_with_matching_sidecar(data):
    good = _good_bundle()
    if data.draw(st.booleans()):
        raw = good[:data.draw(st.integers(0, len(good) - 1))]
    else:
        raw = good + data.draw(st.binary(min_size=1, max_size=20000))
    _check_refused(raw, raw)   # the sidecar matches the changed file: the structure must catch it


def test_nested_tar_bytes_anywhere_in_tail(tmp_path):
    """A second archive placed after one extra record of zeros is still found."""
    good = _good_bundle()
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        tf.addfile(_info("x/y", b"z"), io.BytesIO(b"z"))
    raw = good + b"\0" * verify.RECORD + inner.getvalue()
    tar = tmp_path / "b.tar"
    tar.write_bytes(raw)
    write_sidecar(tar)
    try:
        verify.verify_bundle(tar)
    except IntegrityError as exc:
        assert "appended" in str(exc) or "second tar" in str(exc) or "data follows" in str(exc)
    else:
        raise AssertionError("accepted")
