"""The manifest model: the embedded default, typed errors, pins and the RabbitMQ/Erlang table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundler.core import paths
from bundler.core.errors import CompatError, ManifestError
from bundler.resolve.manifest import load_manifest, series_overlaps, version_in, vparts

DEFAULT = paths.DEFAULT_MANIFEST.read_text()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


def test_default_manifest_has_the_contract_repo_ids_and_roles():
    man = load_manifest()
    ids = {el: [r.id for r in man.for_el(int(el)).repos] for el in man.el}
    assert ids["7"] == ["c7-os", "c7-updates", "c7-extras", "mariadb", "epel"]
    assert man.for_el(7).source_ids() == ["c7-os", "c7-updates", "c7-extras", "mariadb", "epel", "erlang",
                                          "rabbitmq"]
    assert ids["8"] == ["el8-baseos", "el8-appstream", "mariadb", "erlang", "rabbitmq"]
    assert ids["9"] == ["el9-baseos", "el9-appstream", "mariadb", "erlang", "rabbitmq"]
    assert [man.for_el(e).base_repo for e in (7, 8, 9)] == ["c7-os", "el8-baseos", "el9-baseos"]
    assert set(man.roles) == {"db-node", "mq-node", "app-node", "arbitrator", "control-node"}
    # issue 15: Ansible from EPEL 7 (only what it needs from there), ansible-core from AppStream on EL8/9
    assert [man.role_packages("control-node", e) for e in (7, 8, 9)] == [["ansible"], ["ansible-core"],
                                                                          ["ansible-core"]]
    epel = man.for_el(7).repo("epel")
    assert epel.includepkgs == ["ansible", "python2-httplib2", "python2-jmespath"]
    assert epel.fingerprints == ["91E97D7C4A5E96F17F3E888F6A2FAEA2352C64E5"]
    assert epel.baseurls == ["https://archives.fedoraproject.org/pub/archive/epel/7/x86_64/"]
    assert "policycoreutils-python" in man.role_packages("db-node", 7)
    assert "policycoreutils-python-utils" in man.role_packages("db-node", 9)
    assert man.role_packages("arbitrator", 7) == ["galera-4"]
    assert man.for_el(7).pins == {"mariadb": "10.11.11", "erlang": "23.3.4.18", "rabbitmq": "3.9.16"}
    assert man.for_el(8).modules.disable == ["mariadb", "mysql"]
    assert all(r.module_hotfixes for e in (8, 9) for r in man.for_el(e).repos if r.id == "mariadb")
    assert len(man.sha256) == 64


def test_erlang_is_excluded_from_every_repo_but_the_erlang_repo():
    man = load_manifest()
    for el in (7, 8, 9):
        for repo in man.for_el(el).repos:
            assert repo.admits("erlang") == (repo.id == "erlang"), (el, repo.id)
            assert repo.admits("erlang-kernel") == (repo.id == "erlang"), (el, repo.id)
    assert man.for_el(7).repo("c7-os").admits("rsync")
    assert not man.for_el(9).repo("erlang").admits("rsync")  # includepkgs


def test_pins_apply_to_their_globs():
    man = load_manifest()
    assert man.pin_for("MariaDB-server", 7) == ("mariadb", "10.11.11")
    assert man.pin_for("erlang-kernel", 7) == ("erlang", "23.3.4.18")
    assert man.pin_for("rabbitmq-server", 9) == ("rabbitmq", "4")
    assert man.pin_for("rsync", 7) is None
    assert man.pin_regex(7).match("MariaDB-client") and not man.pin_regex(7).match("mariadb-libs")


def test_unknown_key_names_file_line_and_key_path(tmp_path):
    text = DEFAULT.replace("        excludepkgs: [\"erlang*\"]\n", "        exclude-pkgs: [\"erlang*\"]\n", 1)
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    msg = err.value.render()
    line = text.splitlines().index('        exclude-pkgs: ["erlang*"]') + 1
    assert f"{path}:{line}:" in msg
    assert "el.7.repos[0].exclude-pkgs" in msg
    assert "Did you mean 'excludepkgs'" in msg


def test_wrong_type_and_broken_yaml_are_manifest_errors(tmp_path):
    with pytest.raises(ManifestError, match=r"weak-deps.*expected true or false"):
        load_manifest(write(tmp_path, DEFAULT.replace("weak-deps: false", "weak-deps: maybe")))
    with pytest.raises(ManifestError, match=r"m.yaml:\d+:\d+: malformed YAML"):
        load_manifest(write(tmp_path, DEFAULT.replace("roles:\n", "roles: [\n", 1)))


def test_cross_references_are_checked(tmp_path):
    with pytest.raises(ManifestError, match="base-repo 'nope' is not one of the repos"):
        load_manifest(write(tmp_path, DEFAULT.replace("base-repo: c7-os", "base-repo: nope")))
    with pytest.raises(ManifestError, match="role 'db-nod' is not defined"):
        load_manifest(write(tmp_path, DEFAULT.replace("      db-node: [policycoreutils-python]\n",
                                                      "      db-nod: [policycoreutils-python]\n")))
    with pytest.raises(ManifestError, match="not an http"):
        load_manifest(write(tmp_path, DEFAULT.replace("https://vault.centos.org/7.9.2009/os/x86_64/",
                                                      "vault.centos.org/7.9.2009/os/x86_64/")))


def test_incompatible_pins_fail_before_anything_else(tmp_path):
    # RabbitMQ 4 needs Erlang >= 26.2: EL7's Erlang 23 does not fit.
    text = DEFAULT.replace('rabbitmq: "3.9.16"', 'rabbitmq: "4.0.5"')
    with pytest.raises(CompatError, match=r"EL7 pins RabbitMQ 4.0.5 with Erlang 23.3.4.18"):
        load_manifest(write(tmp_path, text))
    text = DEFAULT.replace('erlang: "23.3.4.18"', 'erlang: "25.3"')
    with pytest.raises(CompatError, match="EL7"):
        load_manifest(write(tmp_path, text))


def test_version_series_maths():
    assert vparts("23.3.4.18") == (23, 3, 4, 18)
    assert vparts("27.x") == (27,)
    assert series_overlaps("4", "4.0.4", "4.2.8")
    assert series_overlaps("27", "26.2", "27")
    assert not series_overlaps("3.9.16", "4.0.4", "4.2.8")
    assert not series_overlaps("28", "26.2", "27")
    assert not series_overlaps("26.1", "26.2", "27")
    assert version_in("23.3.4.18", "23.3", "24.3")
    assert version_in("24.3.9", "23.3", "24.3")
    assert not version_in("25.0", "23.3", "24.3")
    assert not version_in("23.2.7", "23.3", "24.3")


def _with_direct(entry: str) -> str:
    """The default manifest with EL7's direct-rpms replaced by this one entry."""
    start = DEFAULT.index("    direct-rpms:\n", DEFAULT.index('  "7":\n'))
    end = DEFAULT.index('  "8":\n')
    text = DEFAULT[:start] + "    direct-rpms:\n      - " + entry + "\n\n" + DEFAULT[end:]
    assert text != DEFAULT
    return text


DIRECT_URL = "https://rpm.example/x-1.0-1.el7.x86_64.rpm"


def test_direct_rpms_load_with_their_gpgkeys(tmp_path):
    """direct-rpms are carried (resolve/fetch: tests/integration/test_direct_rpms.py), so the model keeps them."""
    man = load_manifest(write(tmp_path, _with_direct(
        '{url: "' + DIRECT_URL + '", sha256: "' + "a" * 64 + '", roles: [db-node], '
        'gpgkey: ["file:///etc/pki/RPM-GPG-KEY-x"]}')))
    (d,) = man.for_el(7).direct_rpms
    assert (d.url, d.sha256, d.roles, d.gpgkey) == (DIRECT_URL, "a" * 64, ["db-node"], ["file:///etc/pki/RPM-GPG-KEY-x"])
    assert man.for_el(9).direct_rpms == []


@pytest.mark.parametrize("entry, phrase", [
    ('{url: "' + DIRECT_URL + '", sha256: "' + "a" * 64 + '", roles: [db-node]}', "gpgkey"),
    ('{url: "' + DIRECT_URL + '", sha256: "' + "a" * 64 + '", roles: [db-node], gpgkey: []}', "has no gpgkey"),
    ('{url: "' + DIRECT_URL + '", sha256: "' + "a" * 64 + '", roles: [db-node], gpgkey: ["ftp://k"]}',
     "is not an http(s):// or file:// URL"),
    ('{url: "ftp://rpm.example/x.rpm", sha256: "' + "a" * 64 + '", roles: [db-node], gpgkey: ["file:///k"]}',
     "is not an http(s):// or file:// URL of an .rpm file"),
    ('{url: "' + DIRECT_URL + '", sha256: "' + "A" * 64 + '", roles: [db-node], gpgkey: ["file:///k"]}',
     "64 lower-case hex"),
    ('{url: "' + DIRECT_URL + '", sha256: "' + "a" * 64 + '", roles: [nosuch], gpgkey: ["file:///k"]}',
     "role 'nosuch' is not defined"),
])
def test_bad_direct_rpm_entries_are_refused(tmp_path, entry, phrase):
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, _with_direct(entry)))
    msg = err.value.render()
    assert phrase in msg, msg


def test_the_manifest_cache_cannot_run_code(tmp_path):
    """Issue 10, point 9: the cache was a pickle, so whoever could write the cache directory ran code
    in the next resolve. A planted cache file (pickle or JSON, under any name the loader reads) runs
    nothing and changes nothing; the manifest is parsed again."""
    import hashlib
    import os
    import pickle
    import subprocess
    import sys

    from bundler.resolve import manifest as mod

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(marker)],))

    sha = hashlib.sha256(paths.DEFAULT_MANIFEST.read_bytes()).hexdigest()
    stem = f"{sha[:32]}-{os.stat(mod.__file__).st_mtime_ns}"
    cache = tmp_path / "cache"
    (cache / "manifest").mkdir(parents=True)
    payload = pickle.dumps(Evil())
    for ext in ("pickle", "json"):
        (cache / "manifest" / f"{stem}.{ext}").write_bytes(payload)
    man = load_manifest(cache_dir=cache)
    assert not marker.exists()
    assert man == load_manifest() and man.sha256 == sha
    # the cache it writes is JSON, and a warm load reads it without PyYAML
    assert json.loads((cache / "manifest" / f"{stem}.json").read_text())["sha256"] == sha
    code = ("import sys; from pathlib import Path; from bundler.resolve.manifest import load_manifest; "
            f"m = load_manifest(cache_dir=Path({str(cache)!r})); print('yaml' in sys.modules, m.sha256)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", sha]


def test_an_edited_manifest_cache_is_ignored(tmp_path):
    import hashlib
    import os

    from bundler.resolve import manifest as mod
    sha = hashlib.sha256(paths.DEFAULT_MANIFEST.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    load_manifest(cache_dir=cache)
    f = cache / "manifest" / f"{sha[:32]}-{os.stat(mod.__file__).st_mtime_ns}.json"
    data = json.loads(f.read_text())
    data["manifest"]["el"]["7"]["repos"][0]["priority"] = "1; rm -rf /"   # wrong type
    f.write_text(json.dumps(data))
    assert load_manifest(cache_dir=cache) == load_manifest()
    data["manifest"]["el"]["7"]["base_repo"] = "nowhere"                   # fails validate()
    data["manifest"]["el"]["7"]["repos"][0]["priority"] = 99
    f.write_text(json.dumps(data))
    assert load_manifest(cache_dir=cache) == load_manifest()
