"""Patch day (issue 14), the builder half: `wcbundle build --since OLD` and `wcbundle diff`, on the
v1/v2 fixture world (scripts/world/v2: newer builds of MariaDB, galera, erlang, rabbitmq-server and
OpenJDK in v2, the same repo keys in both).

Build v1 from the v1 snapshot, then the update from v2 with --since v1. The update must hold exactly
the RPMs whose sha256 v1 does not have (every one a package v2 added), record its base, verify, and,
with real dnf --installroot and gpgcheck on, upgrade a root installed from v1 to v2 through v1's repo
plus the update's repo (as the target will have them). Bad OLDs exit 3 before anything is fetched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bundler.carry.diff import lock_sha256, read_bundle_doc
from bundler.cli import main
from bundler.core.run import run

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module", params=[7, 9], ids=["el7", "el9"])
def worlds(request):
    from scripts.world.v2 import ensure_v2
    return ensure_v2(request.param)


@pytest.fixture
def el7_only(worlds):
    if worlds[0].el != 7:
        pytest.skip("EL-independent: checked on EL7")


# The WorkCenter stack's roles. Not control-node (issue 15): on EL7 its closure takes the base repo's
# openssl 1:1.0.2k-12 (python2-cryptography requires openssl), while c7-updates offers -26 in v1 and v2
# alike, so every `--since` rightly carries that upgrade too: another scenario than these tests measure.
STACK = ("--role", "db-node", "--role", "mq-node", "--role", "app-node", "--role", "arbitrator")


def _build(world, tmp: Path, out: str, *extra: str) -> int:
    return main(["-q", "build", "--el", str(world.el), *world.repo_args(world.root.as_uri()),
                 "--cache", str(tmp / "cache"), "--out", str(tmp / out), *STACK, *extra])


@pytest.fixture(scope="module")
def built(worlds, tmp_path_factory):
    """(v1 tar, update tar, extracted v1 top, extracted update top)."""
    from bundler.carry.verify import extract_bundle
    v1, v2 = worlds
    tmp = tmp_path_factory.mktemp("upd")
    assert _build(v1, tmp, "o1") == 0
    (old,) = (tmp / "o1").glob("*.tar")
    assert _build(v2, tmp, "o2", "--since", str(old)) == 0
    (upd,) = (tmp / "o2").glob("*.tar")
    return old, upd, extract_bundle(old, tmp / "x1"), extract_bundle(upd, tmp / "x2")


def _sha(p: dict) -> str:
    return p["checksum"].split(":", 1)[1]


def test_update_holds_exactly_the_changed_rpms(worlds, built):
    _, v2 = worlds
    old, upd, x1, x2 = built
    a, b = json.loads((x1 / "bundle.json").read_text()), json.loads((x2 / "bundle.json").read_text())
    old_shas = {_sha(p) for p in a["lock"]["packages"]}
    changed = {p["location"].rsplit("/", 1)[-1] for p in b["lock"]["packages"] if _sha(p) not in old_shas}
    shipped = {p.name for p in (x2 / "repo" / "Packages").iterdir()}
    assert shipped == changed, (shipped ^ changed)
    added_in_v2 = {n for r in v2.info["repos"].values() for n in r["added_in_v2"]}
    from bundler.lock import nevra_of
    carried = {nevra_of(p) for p in b["lock"]["packages"] if _sha(p) not in old_shas}
    assert carried <= added_in_v2, carried - added_in_v2
    # every package v2 rebuilt that v1's roles had is carried: the update leaves nothing behind
    v1_names = {p["name"] for p in a["lock"]["packages"]}
    want = {n for n in added_in_v2 if n.rsplit(":", 1)[0].rsplit("-", 1)[0] in v1_names}
    assert carried == want
    assert {"MariaDB-server", "galera-4", "erlang", "rabbitmq-server", "java-1.8.0-openjdk-headless"} <= \
        {n.rsplit(":", 1)[0].rsplit("-", 1)[0] for n in carried}
    # the full new lock: as many packages as v1's, unchanged ones byte-identical
    assert len(b["lock"]["packages"]) == len(a["lock"]["packages"])
    assert b["update"]["carried"] == sorted(carried, key=lambda n: n)
    assert upd.stat().st_size < old.stat().st_size


def test_update_records_its_base(built):
    from tests.integration.test_installroot import bundle_env
    old, _upd, x1, x2 = built
    a, b = json.loads((x1 / "bundle.json").read_text()), json.loads((x2 / "bundle.json").read_text())
    assert b["base"]["bundle_id"] == x1.name == a["build"]["bundle_id"]
    assert b["base"]["lock_sha256"] == lock_sha256(a["lock"]) == a["build"]["lock_sha256"]
    env1, env2 = bundle_env(x1), bundle_env(x2)
    assert env1["WCB_BUNDLE_KIND"] == "full" and env1["WCB_BASE_BUNDLE_ID"] == ""
    assert env2["WCB_BUNDLE_KIND"] == "update"
    assert env2["WCB_BASE_BUNDLE_ID"] == x1.name
    assert env2["WCB_BASE_LOCK_SHA256"] == env1["WCB_LOCK_SHA256"] == lock_sha256(a["lock"])
    assert env2["WCB_BUNDLE_ID"] == x2.name != x1.name
    # the update's role closures are the roles' whole closures in the new lock, not only what it carries
    carried = set(b["update"]["carried"])
    for role in b["lock"]["roles"]:
        mine = [p for p in b["lock"]["packages"] if role in p["roles"]]
        assert env2[f"WCB_ROLE_CLOSURE_{role.replace('-', '_')}"] == " ".join(sorted({p["name"] for p in mine}))
        assert env1[f"WCB_ROLE_CLOSURE_{role.replace('-', '_')}"] == \
            " ".join(sorted({p["name"] for p in a["lock"]["packages"] if role in p["roles"]}))
    from bundler.lock import nevra_of
    assert any(nevra_of(p) not in carried for p in b["lock"]["packages"] if "db-node" in p["roles"])
    assert "update" in (x2 / "report.html").read_text() and x1.name in (x2 / "report.html").read_text()


def test_since_lock_is_the_fresh_resolve_of_v2(worlds, built, tmp_path):
    """The new state solved on top of v1 is what a fresh resolve of v2 gives: the same lock, except
    that the unchanged packages keep v1's URLs (where the earlier bundle got them)."""
    _, v2 = worlds
    _, _, x1, x2 = built
    out = tmp_path / "v2.lock.json"
    assert main(["-q", "resolve", "--el", str(v2.el), *v2.repo_args(v2.root.as_uri()), *STACK,
                 "--cache", str(tmp_path / "cache"), "-o", str(out)]) == 0
    fresh, since = json.loads(out.read_text()), json.loads((x2 / "bundle.json").read_text())["lock"]
    old_shas = {_sha(p) for p in json.loads((x1 / "bundle.json").read_text())["lock"]["packages"]}
    for lk in (fresh, since):
        for p in lk["packages"]:
            if _sha(p) in old_shas:
                p["url"] = "(v1)"
    assert since == fresh


def test_warm_since_gives_the_same_lock(el7_only, worlds, built, tmp_path):
    """A second --since with the cache the first one filled (installed repos, baseline NEVRAs) writes
    the same lock as the cold build of the fixture."""
    _, v2 = worlds
    old, _, _, x2 = built
    locks = []
    for i in range(2):
        assert _build(v2, tmp_path, f"o{i}", "--since", str(old)) == 0
        (tar,) = (tmp_path / f"o{i}").glob("*.tar")
        locks.append(read_bundle_doc(tar).lock)
    assert list((tmp_path / "cache" / "solv").glob("baseline-*.json"))
    assert locks[0] == locks[1] == json.loads((x2 / "bundle.json").read_text())["lock"]


def test_since_with_nothing_new_gives_old_lock_and_no_rpms(el7_only, worlds, built, tmp_path):
    from bundler.carry.verify import extract_bundle
    v1, _ = worlds
    old, _, x1, _ = built
    assert _build(v1, tmp_path, "o", "--since", str(old)) == 0
    (tar,) = (tmp_path / "o").glob("*.tar")
    top = extract_bundle(tar, tmp_path / "x")
    assert not list((top / "repo" / "Packages").iterdir())
    assert json.loads((top / "bundle.json").read_text())["lock"] == json.loads((x1 / "bundle.json").read_text())["lock"]


def test_update_verifies_inspects_and_splits(built, tmp_path, capsys):
    _, upd, x1, x2 = built
    assert main(["-q", "verify", str(upd)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(upd)]) == 0
    n = len(list((x2 / "repo" / "Packages").iterdir()))
    assert f"Update:   of {x1.name}: carries {n} of the" in capsys.readouterr().out
    copy = tmp_path / upd.name
    shutil.copy(upd, copy)
    shutil.copy(upd.with_name(upd.name + ".sha256"), tmp_path)
    assert main(["-q", "split", str(copy), "1M"]) == 0
    index = next(tmp_path.glob("*.parts.json"))
    assert main(["-q", "verify", str(index)]) == 0


def _parts_index(bundle, tmp_path):
    """Split a copy of `bundle` (with its .sha256) into 4 MiB parts in tmp_path; return the parts' index
    (the copy itself is removed: only the parts remain)."""
    from bundler.carry.split import split_bundle
    copy = tmp_path / bundle.name
    shutil.copy(bundle, copy)
    shutil.copy(bundle.with_name(bundle.name + ".sha256"), tmp_path)
    parts = split_bundle(copy, 4 << 20)
    copy.unlink()
    return next(p for p in parts if p.name.endswith(".parts.json"))


def test_old_in_every_form_reads_the_same(el7_only, built, tmp_path):
    old, _, x1, _ = built
    index = _parts_index(old, tmp_path)
    forms = [old, x1, x1.parent, x1 / "bundle.json", index]
    docs = [read_bundle_doc(f) for f in forms]
    assert {d.bundle_id for d in docs} == {x1.name}
    assert {lock_sha256(d.lock) for d in docs} == {lock_sha256(docs[0].lock)}


def test_diff_cli_matches_the_update_report(el7_only, built, capsys):
    old, upd, _, x2 = built
    assert main(["diff", str(old), str(upd), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    recorded = json.loads((x2 / "bundle.json").read_text())["update"]["diff"]
    assert got["roles"] == recorded["roles"] and got["carried"] == recorded["carried"]
    assert got["roles"]["mq-node"]["upgraded"] and not got["roles"]["mq-node"]["added"]
    assert main(["diff", str(old), str(upd)]) == 0
    text = capsys.readouterr().out
    assert "~ MariaDB-server.x86_64 10.11.11-1.el7.centos -> 10.11.11-2.el7.centos" in text
    assert "mq-node: 2 upgraded, 0 added, 0 removed" in text


def _bad_old(x1: Path, tmp: Path, **change) -> Path:
    d = tmp / x1.name
    d.mkdir()
    doc = json.loads((x1 / "bundle.json").read_text())
    for k, v in change.items():
        if k == "site":
            doc["site"] = {"name": v}
        else:
            doc["lock"][k] = v
    (d / "bundle.json").write_text(json.dumps(doc))
    return d / "bundle.json"


@pytest.mark.parametrize("case,needle", [
    ("missing", "no such file"), ("el9", "EL9 bundle"), ("arch", "aarch64 bundle"),
    ("site", "site 'other'"), ("notjson", "not a wcbundle bundle document"), ("tampered", "do not match"),
])
def test_bad_old_exits_3_naming_the_problem(el7_only, worlds, built, tmp_path, capsys, case, needle):
    v1, v2 = worlds
    old, _, x1, _ = built
    if case == "missing":
        arg = tmp_path / "nope.tar"
    elif case == "el9":
        arg = _bad_old(x1, tmp_path, el=9)
    elif case == "arch":
        arg = _bad_old(x1, tmp_path, arch="aarch64")
    elif case == "site":
        arg = _bad_old(x1, tmp_path, site="other")
    elif case == "notjson":
        arg = tmp_path / "bundle.json"
        arg.write_text("{not json")
    else:
        arg = tmp_path / old.name
        data = bytearray(old.read_bytes())
        at = data.find(b'"lock"')
        data[at + 1] = ord("L")
        arg.write_bytes(bytes(data))
        shutil.copy(old.with_name(old.name + ".sha256"), tmp_path)
    rc = _build(v2, tmp_path, "o", "--since", str(arg))
    err = capsys.readouterr().err
    assert rc == 3, err
    assert needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# -- an update carries its base's secrets (site/secrets.env) ------------------------------------------

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def _site_yaml(tmp: Path, name: str = "site.yaml", secrets: dict[str, str] | None = None) -> Path:
    text = (MANIFESTS / "site.example.yaml").read_text()
    if secrets:
        text += "secrets:\n" + "".join(f"  {k}: {v}\n" for k, v in secrets.items())
    path = tmp / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def _digest(raw: bytes) -> str:
    import hashlib
    return hashlib.sha256(raw).hexdigest()


def _secret_values(raw: bytes) -> dict[str, str]:
    from bundler.site.model import parse_site_env
    return parse_site_env(raw.decode())


@pytest.fixture(scope="module")
def built_site(worlds, tmp_path_factory):
    """(tmp, site.yaml, v1 tar built --site, extracted v1): EL-independent, so EL7 only."""
    from bundler.carry.verify import extract_bundle
    v1, _ = worlds
    if v1.el != 7:
        pytest.skip("EL-independent: checked on EL7")
    tmp = tmp_path_factory.mktemp("upd-site")
    site = _site_yaml(tmp)
    assert _build(v1, tmp, "o1", "--site", str(site)) == 0
    (old,) = (tmp / "o1").glob("*.tar")
    return tmp, site, old, extract_bundle(old, tmp / "x1")


def test_update_carries_its_base_secrets_byte_for_byte(worlds, built_site, tmp_path, capfd):
    """v1 built --site, then the update --since v1.tar --site: the update's site/secrets.env is v1's,
    byte for byte and 0600 in the tar; no secret value appears in the build's output or in any other
    file of the update. A second full build of the same site.yaml gets fresh secrets (what an update
    did before), so the equality is the carrying, not chance."""
    import tarfile

    from bundler.carry.verify import extract_bundle
    _, v2 = worlds
    tmp, site, old, x1 = built_site
    old_raw = (x1 / "site/secrets.env").read_bytes()
    values = _secret_values(old_raw)
    assert len(values) == 6 and all(len(v) >= 16 for v in values.values())
    capfd.readouterr()
    assert main(["build", "--el", str(v2.el), *v2.repo_args(v2.root.as_uri()), "--cache", str(tmp / "cache"),
                 "--out", str(tmp_path / "o2"), *STACK, "--site", str(site), "--since", str(old)]) == 0
    out = capfd.readouterr()
    (upd,) = (tmp_path / "o2").glob("*.tar")
    with tarfile.open(upd) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("/site/secrets.env"))
        assert member.mode & 0o777 == 0o600
        # compared by digest: a failing assert must not print the secrets either
        assert _digest(tf.extractfile(member).read()) == _digest(old_raw)
    x2 = extract_bundle(upd, tmp_path / "x2")
    assert _digest((x2 / "site/secrets.env").read_bytes()) == _digest(old_raw)
    assert (x2 / "site/secrets.env").stat().st_mode & 0o777 == 0o600
    leaks = [(k, str(f.relative_to(x2))) for f in x2.rglob("*") if f.is_file() and f != x2 / "site/secrets.env"
             for k, v in values.items() if v.encode() in f.read_bytes()]
    assert leaks == []
    assert [k for k, v in values.items() if v in out.out or v in out.err] == []   # keys only, if it fails
    # the control: a full build of the same site.yaml generates other secrets
    assert _build(v2, tmp_path, "o3", "--site", str(site)) == 0
    x3 = extract_bundle(next((tmp_path / "o3").glob("*.tar")), tmp_path / "x3")
    fresh = _secret_values((x3 / "site/secrets.env").read_bytes())
    assert fresh.keys() == values.keys()
    assert [k for k in values if fresh[k] == values[k]] == []


def test_old_forms_carry_the_same_secrets(built_site, tmp_path):
    """.tar, parts index and extracted dir all yield v1's secrets.env; bundle.json alone yields none;
    an extracted dir whose secrets.env no longer matches its MANIFEST.sha256 is refused (exit 3)."""
    from bundler.core.errors import InputError
    _, _, old, x1 = built_site
    index = _parts_index(old, tmp_path)
    raw = (x1 / "site/secrets.env").read_bytes()
    got = {str(f): read_bundle_doc(f) for f in (old, index, x1, x1.parent)}
    assert {_digest(d.secrets or b"") for d in got.values()} == {_digest(raw)}, {k: d.form for k, d in got.items()}
    assert {d.form for d in got.values()} == {"tar", "parts", "dir"}
    bare = read_bundle_doc(x1 / "bundle.json")
    assert bare.form == "json" and bare.secrets is None
    edited = tmp_path / "edited" / x1.name
    shutil.copytree(x1, edited)
    (edited / "site/secrets.env").write_bytes(raw.replace(b"WCB_ERLANG_COOKIE=", b"WCB_ERLANG_COOKIE=X"))
    with pytest.raises(InputError) as exc:
        read_bundle_doc(edited)
    assert "does not match its line" in exc.value.message


@pytest.mark.parametrize("case", ["bare-json", "other-cookie"])
def test_update_without_its_base_secrets_is_refused(worlds, built_site, tmp_path, capfd, case):
    """--since a bundle.json alone with --site, or a site.yaml fixing a secret to another value than
    the base's: exit 3 before any download, naming what to pass or the key, never a secret's value."""
    _, v2 = worlds
    tmp, site, old, x1 = built_site
    values = _secret_values((x1 / "site/secrets.env").read_bytes())
    since = str(old)
    if case == "bare-json":
        since, needle = str(x1 / "bundle.json"), "is a bundle.json alone"
    else:
        other = "Q" * 40
        assert other != values["WCB_ERLANG_COOKIE"]
        site = _site_yaml(tmp_path, secrets={"erlang-cookie": other, "db-root-password": values["WCB_DB_ROOT_PASSWORD"]})
        needle = "fixes WCB_ERLANG_COOKIE (secrets:) to a value other than"
    capfd.readouterr()
    rc = main(["build", "--el", str(v2.el), *v2.repo_args(v2.root.as_uri()), "--cache", str(tmp_path / "cache"),
               "--out", str(tmp_path / "o"), *STACK, "--site", str(site), "--since", since])
    out = capfd.readouterr()
    assert rc == 3, out.err
    assert needle in out.err and "Traceback" not in out.err, out.err
    assert "WCB_DB_ROOT_PASSWORD" not in out.err   # an equal fixed secret is no problem
    assert [k for k, v in values.items() if v in out.out or v in out.err] == []   # keys only, if it fails
    assert "Q" * 40 not in out.err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    assert not list(tmp_path.rglob("*.rpm"))   # refused before anything was fetched


def test_a_fixed_secret_equal_to_the_base_is_accepted(built_site, tmp_path):
    """The rule in one place (assemble/update.py base_secrets): equal fixed secrets pass and the
    base's bytes are returned as they are; a build without --site needs none."""
    from bundler.assemble.update import base_secrets
    from bundler.site.model import load_site
    _, _, old, x1 = built_site
    doc = read_bundle_doc(old)
    values = _secret_values(doc.secrets)
    same = load_site(_site_yaml(tmp_path, secrets={"erlang-cookie": values["WCB_ERLANG_COOKIE"],
                                                   "mq-app-password": values["WCB_MQ_APP_PASSWORD"]}))
    assert _digest(base_secrets(doc, same) or b"") == _digest(doc.secrets)
    assert base_secrets(read_bundle_doc(x1 / "bundle.json"), None) is None


# -- the upgrade proof: real dnf, gpgcheck on -------------------------------------------------

def _repo(reposdir: Path, repo_id: str, top: Path, el: int) -> None:
    from tests.integration.test_installroot import bundle_env
    env = bundle_env(top)
    keys = " ".join((top / k).as_uri() for k in env["WCB_GPG_KEYS"].split())
    (reposdir / f"{repo_id}.repo").write_text(
        f"[{repo_id}]\nname={repo_id}\nbaseurl={(top / 'repo').as_uri()}/\nenabled=1\ngpgcheck=1\n"
        f"repo_gpgcheck=0\ngpgkey={keys}\nskip_if_unavailable=0\n"
        + ("module_hotfixes=1\n" if el >= 8 else ""))   # as install.sh's templates/wcbundle.repo


@pytest.mark.installroot
def _core_root(v1, tmp_path):
    """A dnf installroot holding v1's @core from its base repo (real dnf); returns (root, reposdir)."""
    from tests.integration.test_installroot import _dnf, _write_repo
    el, base = v1.el, v1.base_repo
    root, reposdir = tmp_path / "root", tmp_path / "repos.d"
    root.mkdir()
    _write_repo(reposdir, base, v1.repos[base].as_uri() + "/", [v1.keys[base].as_uri()], False)
    res = run(_dnf(root, el, reposdir, f"--enablerepo={base}", "group", "install", "core", weak=True), check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return root, reposdir


@pytest.mark.slow
def test_v1_root_upgrades_to_v2_through_the_update_repo(worlds, built, tmp_path):
    from tests.integration.test_installroot import _dnf, bundle_env, rpm_q
    v1, _ = worlds
    el, base = v1.el, v1.base_repo
    _, _, x1, x2 = built
    root, reposdir = _core_root(v1, tmp_path)
    (reposdir / f"{base}.repo").unlink()
    bare = tmp_path / "bare"   # @core only: no vendor key imported yet (the gpgcheck control below)
    shutil.copytree(root, bare, symlinks=True)
    env1 = bundle_env(x1)
    pkgs = sorted({p for r in ("db-node", "mq-node", "app-node") for p in env1[f"WCB_ROLE_PACKAGES_{r.replace('-', '_')}"].split()})
    _repo(reposdir, "wcbundle", x1, el)
    res = run(_dnf(root, el, reposdir, "--enablerepo=wcbundle", "install", *pkgs), check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    new = json.loads((x2 / "bundle.json").read_text())
    carried = new["update"]["carried"]
    names = sorted({n.rsplit(":", 1)[0].rsplit("-", 1)[0] for n in carried})

    def installed() -> dict[str, str]:
        out = run(["rpm", "--root", root, "-q", "--qf", "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\n",
                   *names], check=False).stdout
        return {line.split()[0]: line.split()[0] + "-" + line.split()[1] for line in out.splitlines() if " " in line}
    before = installed()
    assert before and not set(before.values()) & set(carried), before
    # the target's configuration after the update: v1's repo plus the update's repo
    _repo(reposdir, "wcbundle-update", x2, el)
    res = run(_dnf(root, el, reposdir, "--enablerepo=wcbundle", "--enablerepo=wcbundle-update", "upgrade"),
              check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    after = installed()
    assert set(after.values()) == {n for n in carried if n.rsplit(":", 1)[0].rsplit("-", 1)[0] in after}, after
    assert set(after) == set(before)
    assert {"MariaDB-server", "galera-4", "erlang", "rabbitmq-server", "java-1.8.0-openjdk-headless"} <= set(after)
    # control: gpgcheck is enforced: with only the base OS key, dnf refuses the update's packages
    for repo_id in ("wcbundle", "wcbundle-update"):
        text = (reposdir / f"{repo_id}.repo").read_text()
        key = (x2 / "keys" / f"RPM-GPG-KEY-{base}").as_uri()
        (reposdir / f"{repo_id}.repo").write_text(
            "".join(f"gpgkey={key}\n" if line.startswith("gpgkey=") else line + "\n" for line in text.splitlines()))
    res = run(_dnf(bare, el, reposdir, "--enablerepo=wcbundle", "--enablerepo=wcbundle-update", "install",
                   "rabbitmq-server"), check=False)
    assert res.returncode != 0 and ("GPG" in res.stdout + res.stderr or "public key" in res.stdout + res.stderr), \
        res.stdout[-2000:] + res.stderr[-2000:]
    assert rpm_q(bare, "rabbitmq-server")[0] != 0


# -- the installer half: install.sh keeps the repos and upgrades through them (real dnf) ------------------

@pytest.mark.installroot
@pytest.mark.slow
def test_install_sh_upgrades_a_v1_root_through_the_update(worlds, built, tmp_path):
    """install.sh of v1 (its package phase, real dnf --installroot, gpgcheck on) keeps v1's repo under
    /var/lib/wcbundle and records v1; the update's `install.sh --upgrade` (app-node: no cluster gate;
    services through the stub backend) is accepted on that base only, adds its repo beside v1's and
    upgrades what v2 changed from those two repos alone; a re-run changes nothing."""
    from tests.integration.test_installer import DNF_WRAPPER, FIXTURES, install
    from tests.integration.test_installroot import bundle_env
    v1, _ = worlds
    _, _, x1, x2 = built
    root, reposdir = _core_root(v1, tmp_path)
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, symlinks=True)
    bundles = {}
    for name, x in (("b1", x1), ("b2", x2)):   # the extracted bundles plus the operator's site files
        b = bundles[name] = tmp_path / name
        shutil.copytree(x, b, symlinks=True)
        (b / "site").mkdir(exist_ok=True)
        shutil.copy(FIXTURES / "bundle/site/site.env", b / "site/site.env")
        shutil.copy(FIXTURES / "bundle/site/secrets.env", b / "site/secrets.env")
        (b / "site/secrets.env").chmod(0o600)
    env = {"PATH": f"{DNF_WRAPPER}:{os.environ['PATH']}", "WCB_DNF_CACHE": str(tmp_path / "cache")}
    id1, id2 = bundle_env(x1)["WCB_BUNDLE_ID"], bundle_env(x2)["WCB_BUNDLE_ID"]
    node = ("--node", "wc-app1", "--role", "app-node")

    # the update on a host without its base: exit 3 naming both ids, nothing written
    res = install(bundles["b2"], fresh, "--upgrade", *node, skip="health", extra_env=env)
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"update bundle {id2} is built on {id1}" in res.stderr
    assert not (fresh / "var/lib/wcbundle").exists()

    res = install(bundles["b1"], root, *node, skip="preflight system config services health", extra_env=env)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    state = root / "var/lib/wcbundle"
    assert (state / f"repos/{id1}/repodata/repomd.xml").is_file()
    shutil.rmtree(bundles["b1"])   # the host keeps its repo: the extracted v1 bundle may go
    java = "java-1.8.0-openjdk-headless"
    before = run(["rpm", "--root", root, "-q", java], check=False).stdout.strip()

    res = install(bundles["b2"], root, "--upgrade", *node, skip="health", extra_env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "[gates] ok: no cluster gate for app-node" in out
    after = run(["rpm", "--root", root, "-q", java], check=False).stdout.strip()
    carried = json.loads((x2 / "bundle.json").read_text())["update"]["carried"]
    assert after != before and any(c.startswith(f"{java}-") and c.split(":", 1)[1] in after for c in carried), \
        (before, after, carried)
    repo = (root / "etc/yum.repos.d/wcbundle.repo").read_text()
    assert f"[wcbundle-{id1}]" in repo and f"[wcbundle-{id2}]" in repo and repo.count("gpgcheck=1") == 2
    rows = [r.split("\t") for r in (state / "installed.tsv").read_text().splitlines() if not r.startswith("#")]
    assert [(r[0], r[1], r[3]) for r in rows] == [(id1, "full", "-"), (id2, "update", id1)]
    assert (root.parent / "stub.log").read_text().splitlines()[-1:] == ["start workcenter"]

    again = install(bundles["b2"], root, "--upgrade", *node, skip="health", extra_env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[plan] nothing to do" in again.stdout and "Nothing changed" in again.stdout
