"""EL9 modular filtering on the real CS9 AppStream primary (17,649 builds) + modules.yaml.

Like dnf with module_platform_id=platform:el9: packages of module streams that are
not enabled are hidden, and when a stream is enabled the non-modular packages of
the same names are hidden instead (unless their repo has module_hotfixes).
The real modules.yaml carries no modulemd-defaults; the default-stream tests add
one defaults document to a copy (derived fixture, built in the test).
"""

from __future__ import annotations

import hashlib
import lzma
import shutil
from pathlib import Path

import pytest

from bundler.core import paths
from bundler.resolve.manifest import load_manifest
from bundler.resolve.metadata import parse_modules
from bundler.resolve.solve import Selection, load_pool, resolve

DATA = Path(__file__).resolve().parents[1] / "data" / "realmeta"
BASEOS = DATA / "cs9-baseos-2022-x86_64"
APPSTREAM = DATA / "cs9-appstream"
MODULAR_10_11 = "mariadb-server-3:10.11.10-1.module_el9+1141+de86b509.x86_64"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wcb-cache-modular")


def manifest(tmp_path: Path, el9_extra: str = "", appstream_hotfix: bool = False) -> Path:
    text = paths.DEFAULT_MANIFEST.read_text()
    text = text.replace('  "9":\n    base-repo: el9-baseos\n', '  "9":\n    base-repo: el9-baseos\n' + el9_extra)
    if appstream_hotfix:
        text = text.replace('        baseurls: ["https://dl.rockylinux.org/pub/rocky/9/AppStream/x86_64/os/"]\n',
                            '        baseurls: ["https://dl.rockylinux.org/pub/rocky/9/AppStream/x86_64/os/"]\n'
                            '        module-hotfixes: true\n')
    path = tmp_path / "m.yaml"
    path.write_text(text)
    load_manifest(path)  # the edit must keep it valid
    return path


def sel(cache, man=None, appstream=APPSTREAM, installs=("mariadb-server",)):
    return Selection(el=9, manifest_path=man or paths.DEFAULT_MANIFEST,
                     repos={"el9-baseos": BASEOS.as_uri(), "el9-appstream": appstream.as_uri()},
                     installs=list(installs), baseline="none", cache_dir=cache)


def picked(lock, name="mariadb-server"):
    return next(p for p in lock.packages if p.name == name)


def test_stream_not_enabled_hides_its_builds(cache):
    lock = resolve(sel(cache))
    server = picked(lock)
    assert server.version.startswith("10.5.") and server.modularity_label is None
    assert all(p.modularity_label is None for p in lock.packages)
    assert lock.modules == {}


def test_hidden_builds_carry_the_reason(cache):
    s = sel(cache)
    man = load_manifest(s.manifest_path)
    loaded = load_pool(man, s, man.effective_repos(s))
    hidden = {loaded.pool.solvables[i].str(): why for i, why in loaded.excluded.items()}
    modular = [n for n in hidden if n.startswith("mariadb-server-3:10.11")]
    assert modular and all(hidden[n] == "module stream mariadb:10.11 is not enabled" for n in modular)
    assert not any(n.startswith("mariadb-server-3:10.5") for n in hidden)


def test_enabled_stream_wins_and_its_documents_are_recorded(cache, tmp_path):
    lock = resolve(sel(cache, manifest(tmp_path, '    modules: {enable: ["mariadb:10.11"]}\n')))
    server = picked(lock)
    assert server.nevra == MODULAR_10_11
    assert server.modularity_label == "mariadb:10.11:920241128105030:rhel9"
    assert picked(lock, "mariadb-connector-c").modularity_label is None  # not part of the module
    docs = parse_modules(lock.modules["el9-appstream"].encode(), "lock")
    # only the module build whose packages were picked, verbatim
    assert [(d.name, d.stream, d.version) for d in docs.docs] == [("mariadb", "10.11", "920241128105030")]
    assert MODULAR_10_11 in docs.docs[0].artifacts
    assert set(lock.modules) == {"el9-appstream"}


def test_enabled_stream_hides_same_named_non_modular_packages(cache, tmp_path):
    s = sel(cache, manifest(tmp_path, '    modules: {enable: ["mariadb:10.11"]}\n'))
    man = load_manifest(s.manifest_path)
    loaded = load_pool(man, s, man.effective_repos(s))
    hidden = {loaded.pool.solvables[i].str(): why for i, why in loaded.excluded.items()}
    plain = [n for n in hidden if n.startswith("mariadb-server-3:10.5")]
    assert plain and "an enabled module stream provides 'mariadb-server'" in hidden[plain[0]]


def test_module_hotfixes_repo_is_not_filtered(cache, tmp_path):
    s = sel(cache, manifest(tmp_path, '    modules: {enable: ["mariadb:10.11"]}\n', appstream_hotfix=True))
    man = load_manifest(s.manifest_path)
    loaded = load_pool(man, s, man.effective_repos(s))
    hidden = {loaded.pool.solvables[i].str() for i in loaded.excluded}
    assert not any(n.startswith("mariadb-server-3:10.5") for n in hidden)


@pytest.fixture(scope="module")
def with_default(tmp_path_factory):
    """The real AppStream plus one modulemd-defaults document: mariadb's default stream is 10.11."""
    root = tmp_path_factory.mktemp("appstream-default") / "appstream"
    shutil.copytree(APPSTREAM, root)
    repodata = root / "repodata"
    old = next(repodata.glob("*-modules.yaml.xz"))
    text = lzma.decompress(old.read_bytes()) + (
        b"---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: mariadb\n  stream: \"10.11\"\n"
        b"  profiles:\n    10.11: [server]\n...\n")
    blob = lzma.compress(text)
    digest = hashlib.sha256(blob).hexdigest()
    new = repodata / f"{digest}-modules.yaml.xz"
    new.write_bytes(blob)
    old.unlink()
    repomd = repodata / "repomd.xml"
    repomd.write_text(repomd.read_text().replace(old.name, new.name).replace(old.name.split("-")[0], digest))
    return root


def test_default_stream_is_enabled_without_asking(cache, with_default):
    lock = resolve(sel(cache, appstream=with_default))
    assert picked(lock).nevra == MODULAR_10_11
    docs = lock.modules["el9-appstream"]
    assert "document: modulemd-defaults" in docs and "document: modulemd\n" in docs


def test_disabled_module_ignores_its_default_stream(cache, with_default, tmp_path):
    lock = resolve(sel(cache, manifest(tmp_path, "    modules: {disable: [mariadb]}\n"), appstream=with_default))
    assert picked(lock).version.startswith("10.5.")
    assert lock.modules == {}


def test_warm_run_gives_the_same_lock_with_module_documents(tmp_path):
    """The warm path reads the hidden-package analysis from the cache and parses modules.yaml
    only to copy the picked documents: the lock must not change."""
    man = manifest(tmp_path, '    modules: {enable: ["mariadb:10.11"]}\n')
    cold = resolve(sel(tmp_path / "cache", man)).to_dict()
    assert list((tmp_path / "cache" / "solv").glob("hidden-*.json"))
    warm = resolve(sel(tmp_path / "cache", man)).to_dict()
    assert warm == cold and "mariadb" in warm["modules"]["el9-appstream"]
