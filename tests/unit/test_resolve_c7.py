"""Resolution on the real CentOS 7.5 DVD metadata: baselines, upgrades, captures, why-chains, locks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler import lock as lockmod
from bundler.core import paths
from bundler.core.errors import InputError, ResolveError
from bundler.resolve import baseline as bl
from bundler.resolve.solve import Selection, resolve

C7 = Path(__file__).resolve().parents[1] / "data" / "realmeta" / "centos7.5-dvd-x86_64"
WANT = ["java-1.8.0-openjdk-headless", "mariadb-server", "perl-DBI", "rsync", "socat", "lsof"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wcb-cache")


def sel(cache: Path, baseline: str, installs=WANT, **kw) -> Selection:
    return Selection(el=7, manifest_path=kw.pop("manifest", paths.DEFAULT_MANIFEST),
                     repos=kw.pop("repos", {"c7-os": C7.as_uri()}), installs=list(installs),
                     baseline=baseline, cache_dir=cache, **kw)


def names(nevras):
    return {n.rsplit("-", 2)[0] for n in nevras}


def test_none_baseline_closure(cache):
    lock = resolve(sel(cache, "none"))
    role = lock.roles["custom"]
    assert role.requested == WANT and role.upgrade == []
    for nevra in ["java-1.8.0-openjdk-headless-1:1.8.0.161-2.b14.el7.x86_64", "mariadb-server-1:5.5.56-2.el7.x86_64",
                  "mariadb-libs-1:5.5.56-2.el7.x86_64", "perl-DBI-0:1.627-4.el7.x86_64",
                  "rsync-0:3.1.2-4.el7.x86_64", "socat-0:1.7.3.2-2.el7.x86_64", "lsof-0:4.87-5.el7.x86_64",
                  "glibc-0:2.17-222.el7.x86_64", "bash-0:4.2.46-30.el7.x86_64"]:
        assert nevra in role.install
    assert len(role.install) == len(lock.packages) == 166
    assert {p.arch for p in lock.packages} <= {"x86_64", "noarch"}  # never i686
    for p in lock.packages:
        assert p.checksum.startswith("sha256:") and len(p.checksum) == 71
        assert p.size > 0 and p.location.startswith("Packages/") and p.url == C7.as_uri() + "/" + p.location
        assert p.roles == ["custom"] and p.why[-1] == p.name and p.why[0] in WANT
    assert [p.name for p in lock.packages] == sorted(p.name for p in lock.packages)
    assert lock.baseline == {"kind": "none", "source": "-", "count": 0}
    assert lock.repos == {"c7-os": {"baseurls": [C7.as_uri()],
                                    "gpgkeys": ["https://vault.centos.org/RPM-GPG-KEY-CentOS-7"],
                                    "module_hotfixes": False,
                                    "fingerprints": ["6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"],
                                    "repo_gpgcheck": False}}


def test_why_chain_follows_requires(cache):
    lock = resolve(sel(cache, "none", installs=["mariadb-server"]))
    pkg = {p.name: p for p in lock.packages}
    assert pkg["perl-DBI"].why == ["mariadb-server", "perl-DBI"]
    assert pkg["mariadb-server"].why == ["mariadb-server"]
    chain = pkg["perl-Net-Daemon"].why
    assert chain[0] == "mariadb-server" and chain[-1] == "perl-Net-Daemon" and len(chain) >= 3


def test_minimal_baseline_leaves_core_out(cache):
    lock = resolve(sel(cache, "minimal"))
    from bundler.resolve.solve import baseline_records
    records = baseline_records(sel(cache, "minimal"))
    core = {p.name for p in records}
    assert all(p.provides for p in records) and sum(bool(p.files) for p in records) > 100  # primary's files
    assert sum(bool(p.requires) for p in records) > 200 and sum(bool(p.prereqs) for p in records) > 100
    assert lock.baseline == {"kind": "minimal", "source": "@core", "count": len(core)}
    assert 250 < len(core) < 350 and {"bash", "glibc", "openssl-libs", "yum", "systemd"} <= core
    role = lock.roles["custom"]
    assert not (names(role.install) & core)           # nothing of @core again...
    assert names(role.upgrade) <= core                # ...unless the solve must upgrade it
    assert {"mariadb-server", "perl-DBI", "java-1.8.0-openjdk-headless"} <= names(role.install)
    none = resolve(sel(cache, "none"))
    assert len(role.install) < len(none.roles["custom"].install) - 100


def test_warm_resolve_gives_the_same_lock(cache):
    a = resolve(sel(cache, "minimal")).to_dict()
    b = resolve(sel(cache, "minimal")).to_dict()
    assert a == b


CAPTURE = (
    "# a target with an old mariadb-libs 5.5.50, and a locally built package that no repo carries\n"
    "mariadb-libs-1:5.5.50-1.el7.x86_64\tP:mariadb-libs = 1:5.5.50-1.el7\tP:mariadb-libs(x86-64) = 1:5.5.50-1.el7"
    "\tP:libmysqlclient.so.18()(64bit)\tF:/usr/lib64/mysql/libmysqlclient.so.18\n"
    "site-base-0:1.0-1.x86_64\tP:libc.so.6(GLIBC_2.14)(64bit)\tP:libselinux.so.1()(64bit)\tP:rtld(GNU_HASH)"
    "\tP:bash = 4.2.46-30.el7\tF:/usr/bin/pkg-config\n"
    "gpg-pubkey-0:f4a80eb5-53a7ff4b.(none)\n"
)


def test_capture_baseline_foreign_provides_and_files(cache, tmp_path):
    capture = tmp_path / "baseline.txt"
    capture.write_text(CAPTURE)
    # lsof needs three library provides, bash-completion needs bash and the file /usr/bin/pkg-config:
    # all come from site-base, which no repo carries
    lock = resolve(sel(cache, str(capture), installs=["lsof", "bash-completion"]))
    # a capture of the first format (P: and F: only) still loads; the lock says which format it was
    assert lock.baseline == {"kind": "file", "source": str(capture), "count": 2, "format": 1}
    assert lock.roles["custom"].install == ["bash-completion-1:2.1-6.el7.noarch", "lsof-0:4.87-5.el7.x86_64"]
    assert len(resolve(sel(cache, "none", installs=["lsof", "bash-completion"])).packages) > 20


def test_capture_baseline_upgrade_is_listed_as_such(cache, tmp_path):
    capture = tmp_path / "baseline.txt"
    capture.write_text(CAPTURE)
    lock = resolve(sel(cache, str(capture), installs=["mariadb-server"]))
    role = lock.roles["custom"]
    # mariadb-server requires mariadb-libs(x86-64) = 1:5.5.56-2.el7: the installed 5.5.50 must go up
    assert role.upgrade == ["mariadb-libs-1:5.5.56-2.el7.x86_64"]
    libs = next(p for p in lock.packages if p.name == "mariadb-libs")
    assert libs.upgrade_of == "mariadb-libs-1:5.5.50-1.el7.x86_64"
    assert libs.why == ["mariadb-server", "mariadb-libs"]
    assert all(p.upgrade_of is None for p in lock.packages if p.name != "mariadb-libs")


def test_malformed_capture_names_the_line(cache, tmp_path):
    capture = tmp_path / "bad.txt"
    capture.write_text("bash-0:4.2.46-30.el7.x86_64\tP:bash\nthis is not a nevra\n")
    with pytest.raises(InputError, match=r"bad.txt:2: 'this is not a nevra' is not a NEVRA"):
        resolve(sel(cache, str(capture)))
    capture.write_text("bash-0:4.2.46-30.el7.x86_64\tX:what\n")
    with pytest.raises(InputError, match=r"bad.txt:1: field 2: expected P:, R:, C:, O: or F:/<path>"):
        resolve(sel(cache, str(capture)))


def test_unknown_and_hidden_packages(cache):
    with pytest.raises(ResolveError) as err:
        resolve(sel(cache, "none", installs=["mariadb-servr"]))
    assert "no package named 'mariadb-servr'" in err.value.message and "mariadb-server" in err.value.hint


def test_unsatisfiable_role_shows_problem_and_chain(cache, tmp_path):
    man = tmp_path / "m.yaml"
    man.write_text(paths.DEFAULT_MANIFEST.read_text().replace(
        '        baseurls: ["https://vault.centos.org/7.9.2009/os/x86_64/"]\n'
        '        gpgkeys: ["https://vault.centos.org/RPM-GPG-KEY-CentOS-7"]\n'
        '        fingerprints: ["6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"]\n'
        '        excludepkgs: ["erlang*"]\n',
        '        baseurls: ["https://vault.centos.org/7.9.2009/os/x86_64/"]\n'
        '        gpgkeys: ["https://vault.centos.org/RPM-GPG-KEY-CentOS-7"]\n'
        '        fingerprints: ["6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5"]\n'
        '        excludepkgs: ["erlang*", "perl-DBI"]\n'))
    with pytest.raises(ResolveError) as err:
        resolve(sel(cache, "none", installs=["mariadb-server"], manifest=man))
    msg = err.value.message
    assert "role 'custom' cannot be resolved" in msg
    assert "requires perl(DBI), but none of the providers can be installed" in msg
    assert "perl-DBI-1.627-4.el7.x86_64 is disabled (hidden: includepkgs/excludepkgs of repo 'c7-os')" in msg
    assert "Chain: mariadb-server -> perl(DBI)." in msg
    assert "\n" not in msg  # one paragraph


def test_lock_round_trips_through_json(cache, tmp_path):
    lock = resolve(sel(cache, "minimal", installs=["mariadb-server"]))
    lockmod.dump(lock, tmp_path / "lock.json")
    again = lockmod.load(tmp_path / "lock.json")
    assert again.to_dict() == lock.to_dict()
    assert again.package("mariadb-server-1:5.5.56-2.el7.x86_64").repo == "c7-os"
    (tmp_path / "bad.json").write_text('{"lock_version": 1, "packages": [{"name": 1}]}')
    with pytest.raises(InputError, match="the lock is malformed"):
        lockmod.load(tmp_path / "bad.json")


def test_file_dependency_outside_primary_loads_filelists(cache):
    # krb5-server requires /usr/share/dict/words: primary's file list does not show it, filelists does
    import logging
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("wcbundle")  # the CLI turns propagation off, so no caplog
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        lock = resolve(sel(cache, "none", installs=["krb5-server"]))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    words = next(p for p in lock.packages if p.name == "words")
    assert words.why == ["krb5-server", "words"]
    assert any("needs the filelists metadata" in r for r in records)
    # a path request works the same way
    lock = resolve(sel(cache, "none", installs=["/usr/share/dict/words"]))
    assert [p.name for p in lock.packages] == ["words"]


@pytest.mark.parametrize("spec", ["mariadb-server-5.5.56", "mariadb-server-1:5.5.56-2.el7.x86_64",
                                  "mariadb-server >= 1:5.5", "perl(DBI)"])
def test_requests_take_the_forms_dnf_takes(cache, spec):
    lock = resolve(sel(cache, "minimal", installs=[spec]))
    assert lock.roles["custom"].requested == [spec]
    assert {"perl-DBI"} <= {p.name for p in lock.packages}


# -- dnf's request handling and a baseline of whole records ------------------------------------

def test_request_for_an_obsoleted_package_installs_the_obsoleting_one(cache):
    # subscription-manager-rhsm obsoletes python-rhsm < 1.20.11: dnf installs it for `install python-rhsm`
    role = resolve(sel(cache, "minimal", installs=["python-rhsm"])).roles["custom"]
    assert names(role.install) >= {"subscription-manager-rhsm"} and "python-rhsm" not in names(role.install)
    both = resolve(sel(cache, "minimal", installs=["python-rhsm", "subscription-manager-rhsm"])).roles["custom"]
    assert "python-rhsm" not in names(both.install)


def test_globs_select_every_matching_name(cache):
    role = resolve(sel(cache, "minimal", installs=["perl-DBD-*"])).roles["custom"]
    assert {"perl-DBD-MySQL", "perl-DBD-SQLite", "perl-DBD-Pg"} <= names(role.install)
    with pytest.raises(ResolveError, match="no package named 'nosuch\\*'"):
        resolve(sel(cache, "minimal", installs=["nosuch*"]))


def test_request_the_baseline_satisfies_adds_nothing_and_says_so(cache):
    role = resolve(sel(cache, "minimal", installs=["bash", "/usr/bin/python", "rsync"])).roles["custom"]
    assert role.satisfied == ["bash", "/usr/bin/python"]
    assert role.install == ["rsync-0:3.1.2-4.el7.x86_64"] and role.upgrade == [] and role.reinstall == []


CAPTURE2 = (
    "# format 2: an installed package that conflicts with socat, one that requires lsof whenever rsync is\n"
    "# installed (a rich dependency), and an old python-rhsm that subscription-manager-rhsm obsoletes\n"
    "site-policy-0:1.0-1.noarch\tP:site-policy = 1.0-1\tR:manual:(lsof if rsync)\tR:pre:/bin/sh"
    "\tR:rpmlib:rpmlib(CompressedFileNames) <= 3.0.4-1\tC:socat\n"
    "python-rhsm-0:1.19.9-1.el7.x86_64\tP:python-rhsm = 1.19.9-1.el7\tR:manual:python\n"
)


def test_installed_records_are_enforced(cache, tmp_path):
    capture = tmp_path / "baseline.txt"
    capture.write_text(CAPTURE2)
    base = bl.load_capture(capture)
    assert base.version == 2 and base.packages[0].prereqs == ["/bin/sh"]   # rpmlib() is rpm's own: skipped
    # the installed package's conditional requirement: rsync brings lsof along
    role = resolve(sel(cache, str(capture), installs=["rsync"])).roles["custom"]
    assert names(role.install) >= {"rsync", "lsof"}
    # an installed package's conflict: dnf refuses (it never removes an installed package unasked)
    with pytest.raises(ResolveError, match=r"socat.*site-policy|site-policy.*socat"):
        resolve(sel(cache, str(capture), installs=["socat"]))
    # obsoletes replace an installed package, and the lock says which
    lock = resolve(sel(cache, str(capture), installs=["subscription-manager-rhsm"]))
    role = lock.roles["custom"]
    assert role.replaced == ["python-rhsm-0:1.19.9-1.el7.x86_64"]
    pkg = next(p for p in lock.packages if p.name == "subscription-manager-rhsm")
    assert pkg.replaces == ["python-rhsm-0:1.19.9-1.el7.x86_64"] and pkg.upgrade_of is None


@pytest.mark.parametrize("text, message", [
    ("bash-0:4.2.46-30.el7.x86_64\tR:manual:glibc\n", "bad.txt:1: package bash-0:4.2.46-30.el7.x86_64 has no P: field"),
    ("bash-0:4.2.46-30.el7.x86_64\tP:bash = 4.2.46-30.el7\tR:glibc\n", "bad.txt:1: field 3: expected 'R:<deptype>:"),
    ("# ok\nbash-0:4.2.46-30.el7.x86_64\tP:bash = 4.2.46-30.el7\tC:\n", "bad.txt:2: field 3: malformed dependency"),
    ("bash-0:4.2.46-30.el7.x86_64\tP:bash = 4.2.46-30.el7\tO:(foo if\n", "bad.txt:1: field 3: malformed dependency"),
    ("\x00\x01garbage\n", "bad.txt:1: '\x00\x01garbage' is not a NEVRA"),
])
def test_bad_captures_are_refused_before_any_network_access(tmp_path, text, message):
    import socket
    capture = tmp_path / "bad.txt"
    capture.write_text(text)
    # the repo is a listening socket on 127.0.0.1 that counts connections: none may arrive
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        srv.setblocking(False)
        s = sel(tmp_path / "c", str(capture), repos={"c7-os": f"http://127.0.0.1:{srv.getsockname()[1]}/os/"})
        with pytest.raises(InputError) as err:
            resolve(s)
        with pytest.raises(BlockingIOError):
            srv.accept()
    assert message in err.value.message and err.value.exit_code == 3


def test_capture_command_is_the_same_everywhere():
    """install.sh --capture-baseline and the README's one-liner write the format bundler.resolve.baseline reads."""
    installer = Path(__file__).resolve().parents[2] / "installer_stub"
    # the --capture-baseline phase (lib/phases.sh since the phase table)
    assert f"--qf '{bl.CAPTURE_FORMAT}'" in (installer / "lib" / "phases.sh").read_text()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert bl.CAPTURE_COMMAND in readme
