"""Issue 14 (builder half), without the fixture world: the per-role diff, rpm's version order, the
lock digest, the base checks of `build --since`, what an update ships, bundle.env's update fields,
and the readers' refusals (exit 3)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from bundler.assemble.pack import render_bundle_env
from bundler.assemble.update import Update, check_base, make_update
from bundler.carry.diff import BundleDoc, diff_changed, diff_locks, lock_sha256, read_bundle_doc, render_diff
from bundler.changes import evr_cmp
from bundler.core.errors import InputError
from bundler.resolve.baseline import BaselinePkg
from bundler.resolve.since import _installed_records, _kind


def pkg(name, ver, rel, roles, sha, arch="x86_64", epoch=0, size=1000, **kw):
    return {"name": name, "epoch": epoch, "version": ver, "release": rel, "arch": arch, "repo": "r",
            "location": f"Packages/{name}-{ver}-{rel}.{arch}.rpm", "url": "", "checksum": f"sha256:{sha * 64}"[:71],
            "size": size, "roles": roles, **kw}


def lock(pkgs, roles=("db", "mq"), el=7):
    return {"lock_version": 1, "el": el, "arch": "x86_64", "baseline": {}, "manifest": {"name": "w"},
            "repos": {}, "roles": {r: {"requested": []} for r in roles}, "packages": pkgs, "modules": {}}


OLD = lock([pkg("MariaDB-server", "10.11.11", "1.el7", ["db"], "a", size=5000),
            pkg("galera-4", "26.4.20", "1.el7", ["db"], "b"),
            pkg("erlang", "23.3.4.18", "1.el7", ["mq"], "c", size=2000),
            pkg("socat", "1.7.3.2", "2.el7", ["mq"], "d"),
            pkg("tool", "2.0", "1", ["db"], "e")])
NEW = lock([pkg("MariaDB-server", "10.11.11", "2.el7", ["db"], "f", size=5100),
            pkg("galera-4", "26.4.20", "1.el7", ["db"], "b"),
            pkg("erlang", "23.3.4.18", "1.el7", ["mq"], "9", size=2001),      # same EVR, other bytes
            pkg("pv", "1.4", "1.el7", ["db", "mq"], "8", size=300),
            pkg("tool", "1.9", "1", ["db"], "7")])


def test_diff_per_role_with_sizes():
    d = diff_locks(OLD, NEW)
    db, mq = d["roles"]["db"], d["roles"]["mq"]
    assert [(x["name"], x["from"], x["to"], x["size"]) for x in db["upgraded"]] == \
        [("MariaDB-server", "10.11.11-1.el7", "10.11.11-2.el7", 5100)]
    assert [x["name"] for x in db["downgraded"]] == ["tool"]
    assert db["added"] == [{"nevra": "pv-0:1.4-1.el7.x86_64", "size": 300}] and db["removed"] == []
    assert db["unchanged"] == 1
    assert [x["name"] for x in mq["rebuilt"]] == ["erlang"]
    assert mq["removed"] == [{"nevra": "socat-0:1.7.3.2-2.el7.x86_64", "size": 1000}]
    assert d["carried"]["packages"] == ["MariaDB-server-0:10.11.11-2.el7.x86_64", "erlang-0:23.3.4.18-1.el7.x86_64",
                                        "pv-0:1.4-1.el7.x86_64", "tool-0:1.9-1.x86_64"]
    assert d["carried"]["bytes"] == 5100 + 2001 + 300 + 1000
    assert diff_changed(d) and not diff_changed(diff_locks(OLD, OLD))
    text = render_diff(d, "v1", "v2")
    assert "db: 1 upgraded, 1 added, 0 removed, 1 downgraded" in text
    assert "~ MariaDB-server.x86_64 10.11.11-1.el7 -> 10.11.11-2.el7" in text
    assert "- socat-0:1.7.3.2-2.el7.x86_64" in text and "+ pv-0:1.4-1.el7.x86_64" in text
    assert "carries 4 package(s)" in text


@pytest.mark.parametrize("a,b,want", [
    ((0, "1.0", "1"), (0, "1.0", "1"), 0), ((0, "1.10", "1"), (0, "1.9", "1"), 1), ((1, "1.0", "1"), (0, "9", "9"), 1),
    ((0, "1.0~rc1", "1"), (0, "1.0", "1"), -1), ((0, "1.0a", "1"), (0, "1.0", "1"), 1),
    ((0, "10.11.11", "2.el7.centos"), (0, "10.11.11", "1.el7.centos"), 1), ((0, "1.0", "1.el7"), (0, "1.0", "1.el7_9"), -1),
    ((0, "2.0", "1"), (0, "2.0.1", "1"), -1), ((0, "1.0^git1", "1"), (0, "1.0", "1"), 1), ((0, "a", "1"), (0, "1", "1"), -1),
])
def test_evr_cmp_is_rpms_order(a, b, want):
    assert evr_cmp(a, b) == want and evr_cmp(b, a) == -want


def test_lock_digest_ignores_key_order_but_not_content():
    shuffled = json.loads(json.dumps(OLD, sort_keys=True))
    assert lock_sha256(shuffled) == lock_sha256(OLD)
    assert lock_sha256(NEW) != lock_sha256(OLD)


def doc(el=7, arch="x86_64", site=None):
    lk = dict(OLD, el=el, arch=arch)
    return BundleDoc({"lock": lk, "build": {"bundle_id": "w-el7-x86_64-20260101"},
                      "site": {"name": site} if site else None}, "w-el7-x86_64-20260101", "--since X")


def test_check_base_refuses_another_el_arch_or_site():
    check_base(doc(), 7, "x86_64", None)
    check_base(doc(site="acme"), 7, "x86_64", "acme")
    for d, args, needle in [(doc(el=9), (7, "x86_64", None), "EL9 bundle"),
                            (doc(arch="aarch64"), (7, "x86_64", None), "aarch64 bundle"),
                            (doc(site="acme"), (7, "x86_64", "other"), "site 'acme'"),
                            (doc(site="acme"), (7, "x86_64", None), "no --site"),
                            (doc(), (7, "x86_64", "acme"), "no site file")]:
        with pytest.raises(InputError, match=needle) as exc:
            check_base(d, *args)
        assert exc.value.exit_code == 3 and "w-el7-x86_64-20260101" in exc.value.message


def test_update_ships_only_new_sha256s_and_records_its_base():
    upd = make_update(doc(), NEW)
    assert upd.base == {"bundle_id": "w-el7-x86_64-20260101", "lock_sha256": lock_sha256(OLD), "el": 7,
                        "arch": "x86_64", "site": None, "kind": "full"}
    assert sorted(p["name"] for p in upd.carried(NEW)["packages"]) == ["MariaDB-server", "erlang", "pv", "tool"]
    assert Update(base={}, old_shas=set()).carried(NEW)["packages"] == NEW["packages"]


def test_bundle_env_says_update_and_base():
    build = {"time": "t", "lock_sha256": "ab" * 32}
    full = render_bundle_env(NEW, "top", build, [], [])
    assert "WCB_BUNDLE_KIND=full\n" in full and "WCB_BASE_BUNDLE_ID=\n" in full and f"WCB_LOCK_SHA256={'ab' * 32}\n" in full
    upd = render_bundle_env(NEW, "top", build, [], [], {"bundle_id": "w-el7-x86_64-20260101", "lock_sha256": "cd" * 32})
    assert "WCB_BUNDLE_KIND=update\n" in upd and "WCB_BASE_BUNDLE_ID=w-el7-x86_64-20260101\n" in upd
    assert f"WCB_BASE_LOCK_SHA256={'cd' * 32}\n" in upd


def test_installed_state_is_baseline_minus_what_old_replaced_plus_old():
    base = [BaselinePkg("mariadb-libs", 1, "5.5.56", "2.el7", "x86_64", ["mariadb-libs"]),
            BaselinePkg("openssl-libs", 1, "1.0.2k", "12.el7", "x86_64", ["openssl-libs"]),
            BaselinePkg("bash", 0, "4.2.46", "30.el7", "x86_64", ["bash"])]
    old_recs = [BaselinePkg("MariaDB-compat", 0, "10.11.11", "1.el7", "x86_64", ["MariaDB-compat"]),
                BaselinePkg("openssl-libs", 1, "1.0.2k", "26.el7_9", "x86_64", ["openssl-libs"])]
    mine = [{"name": "MariaDB-compat", "replaces": ["mariadb-libs-1:5.5.56-2.el7.x86_64"]}, {"name": "openssl-libs"}]
    got = sorted(r.nevra for r in _installed_records(base, mine, old_recs))
    assert got == ["MariaDB-compat-0:10.11.11-1.el7.x86_64", "bash-0:4.2.46-30.el7.x86_64",
                   "openssl-libs-1:1.0.2k-26.el7_9.x86_64"]
    from bundler.lock import Package
    by_name = {(b.name, b.arch): b for b in base}
    mk = lambda n, e, v, r: Package(n, e, v, r, "x86_64", "r", "l", "u", "sha256:x", 1)  # noqa: E731
    assert _kind(mk("openssl-libs", 1, "1.0.2k", "26.el7_9"), by_name) == "upgrade"
    assert _kind(mk("bash", 0, "4.2.46", "30.el7"), by_name) == "reinstall"
    assert _kind(mk("bash", 0, "4.2.0", "1"), by_name) == "downgrade"
    assert _kind(mk("erlang", 0, "23", "1"), by_name) == "install"


def test_readers_refuse_what_is_not_a_bundle(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_bundle_doc(tmp_path / "gone.tar", "--since")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no bundle.json"):
        read_bundle_doc(empty, "--since")
    lone = tmp_path / "lone" / "bundle.json"
    lone.parent.mkdir()
    lone.write_text(json.dumps({"lock": OLD, "build": {}}))
    with pytest.raises(InputError, match="does not name its bundle id"):
        read_bundle_doc(lone, "--since")
    (lone.parent / "bundle.env").write_text("WCB_BUNDLE_ID=w-el7-x86_64-20260101\n")
    assert read_bundle_doc(lone).bundle_id == "w-el7-x86_64-20260101"
    nochk = json.loads(json.dumps(OLD))
    nochk["packages"][0]["checksum"] = ""
    lone.write_text(json.dumps({"lock": nochk}))
    with pytest.raises(InputError, match="no sha256 checksum"):
        read_bundle_doc(lone, "--since")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00garbage" * 100)
    (tmp_path / "junk.tar.sha256").write_text("0" * 64 + "  junk.tar\n")
    with pytest.raises(InputError, match="cannot be read") as exc:
        read_bundle_doc(junk, "--since")
    assert exc.value.exit_code == 3
    evil = tmp_path / "evil.tar"   # a symlink member: refused by the safe scanner, never followed
    with tarfile.open(evil, "w") as tf:
        ti = tarfile.TarInfo("b/bundle.json")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(ti)
        data = b"{}"
        ti2 = tarfile.TarInfo("b/x")
        ti2.size = len(data)
        tf.addfile(ti2, io.BytesIO(data))
    with pytest.raises(InputError, match="symlink"):
        read_bundle_doc(evil, "--since")
