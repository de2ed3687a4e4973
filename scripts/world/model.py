"""The MODELLED packages of the fixture world (vendor repos, EL9 AppStream, c7-updates).

Nothing here was read from a vendor repository: the vendor repos are
modelled from their published spec requirements: MariaDB/server
cmake/cpack_rpm.cmake (10.6+), the rabbitmq/erlang-rpm README and spec,
rabbitmq-server's RPM spec and rabbitmq-website docs/which-erlang.md (the
RabbitMQ/Erlang ranges), the rabbitmq-website blog post of 2022-04-26 "CentOS 7
support discontinued" (the last EL7 builds) and MariaDB buildbot constants.py
(rhel-7 dropped from 11.0). Every package built from this module is
marked `modelled` and its RPM Vendor says "(modelled)". Versions, names and
the shape of each dependency follow the real packages; exact dependency lists
are a plausible model, not a copy.
"""

from __future__ import annotations

import copy
from pathlib import Path

from .pkg import Dep, Pkg

MODELLED_VENDOR = "wcbundle fixture world (modelled)"


def _deps(items) -> list[Dep]:
    out = []
    for item in items or ():
        pre = item.startswith("pre:")
        out.append(Dep.parse(item[4:] if pre else item, pre=pre))
    return out


def m(name: str, evr: str, arch: str, *, req=(), prov=(), obs=(), conf=(), rec=(), files=(),
      license: str = "GPLv2", summary: str = "", label: str | None = None, size: int = 200_000) -> Pkg:
    """One modelled package. `evr` is [epoch:]version-release; deps are spec strings."""
    epoch, _, vr = evr.rpartition(":")
    version, release = vr.rsplit("-", 1)
    pkg = Pkg(name=name, epoch=int(epoch or 0), version=version, release=release, arch=arch,
              summary=summary or f"{name} (modelled fixture package)", license=license,
              vendor=MODELLED_VENDOR, requires=_deps(req), obsoletes=_deps(obs),
              conflicts=_deps(conf), recommends=_deps(rec), files={f: "file" for f in files},
              modularity_label=label, modelled=True, size=size)
    pkg.provides = [Dep(name, "EQ", str(pkg.epoch), version, release)] + _deps(prov)
    if arch != "noarch":
        pkg.provides.append(Dep(f"{name}(x86-64)", "EQ", str(pkg.epoch), version, release))
    return pkg


# --- MariaDB 10.11 (rpm.mariadb.org/10.11/rhel/N) ---------------------------------------

def mariadb_repo(el: int, version: str, galera: str) -> list[Pkg]:
    """MariaDB-* + galera-4 of one release, shaped after cmake/cpack_rpm.cmake (10.6+)."""
    rel = f"1.el{el}" + (".centos" if el == 7 else "")
    evr = f"{version}-{rel}"
    ssl = (["libssl.so.10()(64bit)", "libssl.so.10(libssl.so.10)(64bit)", "libcrypto.so.10()(64bit)",
            "libcrypto.so.10(libcrypto.so.10)(64bit)"] if el == 7 else
           ["libssl.so.3()(64bit)", "libssl.so.3(OPENSSL_3.0.0)(64bit)", "libcrypto.so.3()(64bit)"])
    libc = ["libc.so.6()(64bit)", "libpthread.so.0()(64bit)", "libz.so.1()(64bit)", "libstdc++.so.6()(64bit)"]
    wsrep = ["galera-4", "rsync", "lsof", "grep", "gawk", "iproute", "coreutils", "findutils", "tar"]
    common_req = ["MariaDB-compat"] if el == 7 else []
    # cpack's ALTERNATIVE_NAME(real alt): Provides `alt = E:ver-rel` (versioned, the distro's
    # epoch: 1 on EL7, 3 on EL8/9) and Obsoletes `alt < E:ver-rel`.
    alt_evr = f"{1 if el == 7 else 3}:{evr}"

    def alt(*names: str) -> dict[str, list[str]]:
        return {"prov": [f"{n} = {alt_evr}" for n in names], "obs": [f"{n} < {alt_evr}" for n in names]}
    client, server, backup = alt("mariadb", "mysql"), alt("mariadb-server", "mysql-server"), alt("mariadb-backup")
    pkgs = [
        m("MariaDB-common", evr, "x86_64", req=common_req, conf=["mariadb-config"],
          prov=["config(MariaDB-common) = " + evr], files=["/etc/my.cnf", "/usr/share/mariadb/charsets/Index.xml"]),
        m("MariaDB-client", evr, "x86_64", size=8_300_000, req=["MariaDB-common", *libc, *ssl, "libncurses.so.5()(64bit)"
                                                if el == 7 else "libncursesw.so.6()(64bit)"],
          prov=["mysql-client", "MySQL-client", *client["prov"]], obs=client["obs"],
          files=["/usr/bin/mariadb", "/usr/bin/mysql", "/usr/bin/mysqladmin"]),
        m("MariaDB-server", evr, "x86_64", size=27_000_000,
          req=["MariaDB-common", "MariaDB-client", *wsrep, *libc, *ssl, "libaio.so.1()(64bit)",
               "libaio.so.1(LIBAIO_0.1)(64bit)", "libpam.so.0()(64bit)", "libsystemd.so.0()(64bit)",
               "perl(DBI)", "/bin/sh", "pre:/usr/sbin/useradd"],
          prov=["MySQL-server", "msqlormysql", "config(MariaDB-server) = " + evr, *server["prov"]],
          obs=server["obs"], rec=[] if el == 7 else ["pv"],   # EL7's rpm 4.11 has no weak deps
          files=["/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/bin/galera_new_cluster",
                 "/usr/bin/galera_recovery", "/usr/lib/systemd/system/mariadb.service"]),
        m("MariaDB-backup", evr, "x86_64", size=7_200_000, req=["MariaDB-common", *libc, *ssl, "libaio.so.1()(64bit)"],
          prov=backup["prov"], obs=backup["obs"],
          files=["/usr/bin/mariabackup", "/usr/bin/mbstream"]),
        m("MariaDB-shared", evr, "x86_64", req=["MariaDB-common", *libc, *ssl],
          prov=["libmariadb.so.3()(64bit)", "libmariadb.so.3(libmariadb_3)(64bit)"],
          files=["/usr/lib64/libmariadb.so.3"]),
        m("galera-4", f"{galera}-{rel}", "x86_64", size=10_500_000,
          req=[*libc, *ssl, "lsof", "/bin/sh", "libgcc_s.so.1()(64bit)"]
          + (["libboost_program_options-mt.so.1.53.0()(64bit)"] if el == 7 else []),
          prov=["wsrep"], obs=["galera < 26.4", "galera-3"], conf=["galera", "galera-3"],
          files=["/usr/lib64/galera-4/libgalera_smm.so", "/usr/bin/garbd", "/etc/sysconfig/garb",
                 "/usr/lib/systemd/system/garb.service"]),
    ]
    if el == 7:
        # MariaDB-compat takes over the libmysqlclient.so.18 that postfix (in @core) needs.
        pkgs.append(m("MariaDB-compat", evr, "x86_64", size=2_400_000, req=["MariaDB-common", *libc, *ssl],
                      prov=["mariadb-libs = 1:" + evr, "libmysqlclient.so.18()(64bit)",
                            "libmysqlclient.so.18(libmysqlclient_18)(64bit)",
                            "libmysqlclient_r.so.18()(64bit)"],
                      obs=["mariadb-libs < 1:10.1.0", "mysql-libs < 5.6"],
                      files=["/usr/lib64/libmysqlclient.so.18"]))
    return pkgs


# --- Erlang (rabbitmq/erlang-rpm, zero-dependency monolithic package) ---------------------

def erlang_pkg(el: int, version: str, rel: str) -> Pkg:
    if el == 7:
        # 23.3.4.18 links OpenSSL 1.0; the `openssl-libs >=` floor is the modelled
        # baseline-upgrade scenario: only c7-updates satisfies it.
        libs = ["libcrypto.so.10()(64bit)", "libcrypto.so.10(libcrypto.so.10)(64bit)",
                "libcrypto.so.10(OPENSSL_1.0.2)(64bit)", "libtinfo.so.5()(64bit)",
                "openssl-libs >= 1:1.0.2k-16.el7"]
    else:
        libs = ["libcrypto.so.3()(64bit)", "libcrypto.so.3(OPENSSL_3.0.0)(64bit)", "libtinfo.so.6()(64bit)"]
    return m("erlang", f"{version}-{rel}", "x86_64", license="ASL 2.0", size=20_000_000,
             req=[*libs, "libc.so.6()(64bit)", "libdl.so.2()(64bit)", "libm.so.6()(64bit)",
                  "libpthread.so.0()(64bit)", "librt.so.1()(64bit)", "libz.so.1()(64bit)",
                  "libstdc++.so.6()(64bit)", "/bin/sh"],
             prov=[f"erlang-erts = {version}", f"erlang-kernel = {version}", f"erlang-ssl = {version}"],
             obs=["erlang-erts < 23", "erlang-kernel < 23"],
             files=["/usr/lib64/erlang/bin/erl", "/usr/bin/erl", "/usr/bin/escript", "/usr/bin/epmd"])


def rabbitmq_pkg(version: str, rel: str, erlang_min: str, erlang_max: str, socat: bool) -> Pkg:
    req = [f"erlang >= {erlang_min}", f"erlang < {erlang_max}", "logrotate", "/bin/sh",
           "pre:shadow-utils", "pre:/usr/sbin/useradd"]
    if socat:   # dropped upstream in 2021; the old EL7 RPMs still require it
        req.append("socat")
    return m("rabbitmq-server", f"{version}-{rel}", "noarch", license="MPLv2.0", req=req, size=15_000_000,
             files=["/usr/sbin/rabbitmq-server", "/usr/sbin/rabbitmqctl", "/usr/sbin/rabbitmq-plugins",
                    "/usr/lib/systemd/system/rabbitmq-server.service", "/etc/logrotate.d/rabbitmq-server"])


def el7_vendor() -> dict[str, list[Pkg]]:
    return {
        "mariadb": mariadb_repo(7, "10.11.11", "26.4.20") + mariadb_repo(7, "10.11.10", "26.4.19"),
        "erlang": [erlang_pkg(7, "23.3.4.18", "1.el7"), erlang_pkg(7, "23.3.4.11", "1.el7")],
        "rabbitmq": [rabbitmq_pkg("3.9.16", "1.el7", "23.3", "24.4", socat=True),
                     rabbitmq_pkg("3.8.30", "1.el7", "23.2", "24.3", socat=True)],
    }


def el7_updates(real: dict[str, Pkg]) -> list[Pkg]:
    """MODELLED c7-updates: a newer openssl build (the EVR the vault's 7.9 updates carry).

    Cloned from the real 7.5 records with the release bumped, so every
    self-referencing EVR (provides, openssl's `openssl-libs = EVR`) moves too.
    """
    out = []
    for name in ("openssl-libs", "openssl"):
        old = real[name]
        new = copy.deepcopy(old)
        new.release, new.modelled, new.vendor = "26.el7_9", True, MODELLED_VENDOR

        def bump(d: Dep, old=old, new=new) -> Dep:
            if d.rel == old.release and d.ver == old.version:
                return Dep(d.name, d.flags, d.epoch, d.ver, new.release, d.pre)
            return d
        new.provides = [bump(d) for d in new.provides]
        new.requires = [bump(d) for d in new.requires]
        out.append(new)
    return out


# --- EL9: AppStream (modelled) and vendors ------------------------------------------------

MODULE_STREAMS = {   # stream -> (version, module version, context); 10.5 is the default stream
    "10.5": ("10.5.22", "9030020230908113052", "9b9a4e0c"),
    "10.11": ("10.11.9", "9050020240813143214", "ba8a8af9"),
}
DEFAULT_STREAM = "10.5"


def mariadb_module(stream: str) -> list[Pkg]:
    version, modver, context = MODULE_STREAMS[stream]
    rel = f"1.module_el9+{modver[-6:]}+{context}"
    label = f"mariadb:{stream}:{modver}:{context}"
    evr = f"3:{version}-{rel}"
    ssl = ["libssl.so.3()(64bit)", "libcrypto.so.3()(64bit)", "libc.so.6()(64bit)", "libz.so.1()(64bit)"]
    return [
        m("mariadb-common", evr, "x86_64", label=label, files=["/etc/my.cnf"]),
        m("mariadb-errmsg", evr, "x86_64", label=label, req=[f"mariadb-common = {evr}"]),
        m("mariadb", evr, "x86_64", label=label, req=[f"mariadb-common = {evr}", *ssl],
          prov=["mysql-client"], files=["/usr/bin/mariadb", "/usr/bin/mysql"]),
        m("mariadb-server", evr, "x86_64", label=label, size=10_000_000,
          req=[f"mariadb = {evr}", f"mariadb-errmsg = {evr}", "libaio.so.1()(64bit)", *ssl, "/bin/sh"],
          prov=["mysql-server"], files=["/usr/libexec/mariadbd"]),
    ]


def el9_appstream() -> list[Pkg]:
    jvm = "/usr/lib/jvm/java-1.8.0-openjdk-1.8.0.412.b08-2.el9.x86_64"
    pkgs = [
        m("java-1.8.0-openjdk-headless", "1:1.8.0.412.b08-2.el9", "x86_64", license="ASL 1.1 and GPL+",
          size=33_000_000,
          req=["tzdata-java >= 2024a", "javapackages-filesystem", "copy-jdk-configs >= 3.9",
               "/usr/sbin/alternatives", "libz.so.1()(64bit)", "libc.so.6()(64bit)", "lksctp-tools(x86-64)"],
          prov=["java-headless = 1:1.8.0", "jre-headless = 1:1.8.0", "java-1.8.0-headless = 1:1.8.0.412.b08"],
          files=[f"{jvm}/jre/bin/java", f"{jvm}/jre/lib/rt.jar"]),
        m("tzdata-java", "2024a-1.el9", "noarch", files=["/usr/share/javazi-1.8/tzdb.dat"]),
        m("javapackages-filesystem", "6.0.0-4.el9", "noarch", files=["/usr/share/java-utils/.keep"]),
        m("copy-jdk-configs", "4.0-3.el9", "noarch", req=["javapackages-filesystem"],
          files=["/usr/libexec/copy_jdk_configs.lua"]),
        m("socat", "1.7.4.1-5.el9", "x86_64", req=["libssl.so.3()(64bit)", "libcrypto.so.3()(64bit)",
                                                  "libreadline.so.8()(64bit)", "libc.so.6()(64bit)"],
          files=["/usr/bin/socat"]),
        m("perl-libs", "4:5.32.1-480.el9", "x86_64", prov=["perl(:MODULE_COMPAT_5.32.1)", "perl(strict)"],
          files=["/usr/lib64/libperl.so.5.32"]),
        m("perl-DBI", "1.643-9.el9", "x86_64", req=["perl(:MODULE_COMPAT_5.32.1)", "perl(strict)"],
          prov=["perl(DBI) = 1.643"], files=["/usr/lib64/perl5/vendor_perl/DBI.pm"]),
        m("python3-policycoreutils", "3.6-2.1.el9", "noarch", req=["policycoreutils", "python3", "python3-setools"],
          files=["/usr/lib/python3.9/site-packages/sepolicy/__init__.py"]),
        m("policycoreutils-python-utils", "3.6-2.1.el9", "noarch", req=["python3-policycoreutils = 3.6-2.1.el9"],
          files=["/usr/sbin/semanage"]),
    ]
    for stream in MODULE_STREAMS:
        pkgs += mariadb_module(stream)
    return pkgs


def el9_vendor() -> dict[str, list[Pkg]]:
    return {
        "mariadb": mariadb_repo(9, "10.11.10", "26.4.20"),
        "erlang": [erlang_pkg(9, "27.2.4", "1.el9"), erlang_pkg(9, "26.2.5.6", "1.el9")],
        "rabbitmq": [rabbitmq_pkg("4.0.7", "1.el9", "26.2", "28", socat=False)],
    }


def modules_yaml(pkgs: list[Pkg]) -> str:
    """A real-shaped modules.yaml: one modulemd v2 per stream + modulemd-defaults v1."""
    docs = []
    for stream, (_version, modver, context) in MODULE_STREAMS.items():
        label = f"mariadb:{stream}:{modver}:{context}"
        arts = sorted(f"{p.name}-{p.epoch}:{p.version}-{p.release}.{p.arch}"
                      for p in pkgs if p.modularity_label == label)
        names = sorted({p.name for p in pkgs if p.modularity_label == label})
        docs.append("\n".join([
            "---", "document: modulemd", "version: 2", "data:", "  name: mariadb", f"  stream: \"{stream}\"",
            f"  version: {modver}", f"  context: {context}", "  arch: x86_64",
            f"  summary: MariaDB Module (modelled fixture, stream {stream})",
            "  description: >-", "    MODELLED for the wcbundle fixture world, shaped after CentOS Stream modules.",
            "  license:", "    module:", "    - MIT", "  dependencies:", "  - buildrequires:",
            "      platform: [el9]", "    requires:", "      platform: [el9]",
            "  profiles:", "    client:", "      rpms:", "      - mariadb", "    server:", "      rpms:",
            "      - mariadb-server", "  api:", "    rpms:", *[f"    - {n}" for n in names],
            "  components:", "    rpms:", "      mariadb:", "        rationale: MariaDB server and client",
            f"        ref: stream-{stream}", "  artifacts:", "    rpms:", *[f"    - {a}" for a in arts], "...",
        ]))
    docs.append("\n".join([
        "---", "document: modulemd-defaults", "version: 1", "data:", "  module: mariadb",
        f"  stream: \"{DEFAULT_STREAM}\"", "  profiles:", f"    \"{DEFAULT_STREAM}\": [server]",
        "    \"10.11\": [server]", "...",
    ]))
    return "\n".join(docs) + "\n"


# --- EL8: AppStream (modelled packages, REAL module metadata) and vendors -----------------------

EL8_MODULES = Path(__file__).resolve().parents[2] / "tests" / "data" / "realmeta" / "rocky8-modules" / "modules.yaml.617a22e"
# the module documents the EL8 AppStream carries, verbatim from Rocky 8.9's modules.yaml
EL8_MODULE_NAMES = ("mariadb", "mysql", "perl", "perl-DBI")


def _el8_real_docs() -> list[tuple[str, dict]]:
    """(verbatim text, parsed) of each real document of EL8_MODULE_NAMES (modulemd and defaults)."""
    import re

    import yaml
    text = EL8_MODULES.read_text()
    out = []
    for chunk in re.split(r"(?m)^(?:---|\.\.\.)[ \t]*$\n?", text):
        if not chunk.strip():
            continue
        doc = yaml.load(chunk, Loader=yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader)
        data = doc.get("data") or {}
        if data.get("name", data.get("module")) in EL8_MODULE_NAMES:
            out.append(("---\n" + chunk.rstrip("\n") + "\n...\n", doc))
    return out


def _el8_artifact(module: str, stream: str, name: str, context: str | None = None) -> tuple[str, str]:
    """(x86_64 NEVRA, ModularityLabel) of a real module artifact."""
    for _text, doc in _el8_real_docs():
        d = doc["data"]
        if doc["document"] == "modulemd" and d["name"] == module and str(d["stream"]) == stream \
                and (context is None or d["context"] == context):
            for art in d["artifacts"]["rpms"]:
                if art.rsplit(".", 1)[1] == "x86_64" and art.rsplit("-", 2)[0] == name:
                    return art, f"{module}:{stream}:{d['version']}:{d['context']}"
    raise KeyError(f"{module}:{stream} has no x86_64 artifact {name}")


def _modular(name: str, module: str, stream: str, context: str | None = None, **kw) -> Pkg:
    nevra, label = _el8_artifact(module, stream, name, context)
    nevr = nevra.rsplit(".", 1)[0]
    n, ev, rel = nevr.rsplit("-", 2)
    epoch, ver = ev.split(":", 1)
    return m(name, f"{epoch}:{ver}-{rel}", "x86_64", label=label, **kw)


def el8_appstream() -> list[Pkg]:
    """MODELLED EL8 AppStream packages. The modular ones (the default mariadb:10.3 stream, perl-DBI:1.641
    for perl:5.26) carry the NEVRAs and ModularityLabels of the real Rocky 8.9 module artifacts."""
    jvm = "/usr/lib/jvm/java-1.8.0-openjdk-1.8.0.412.b08-2.el8.x86_64"
    ssl = ["libssl.so.3()(64bit)", "libcrypto.so.3()(64bit)", "libc.so.6()(64bit)", "libz.so.1()(64bit)"]
    mdb = {"module": "mariadb", "stream": "10.3"}
    mdb_evr = _el8_artifact("mariadb", "10.3", "mariadb")[0].rsplit(".", 1)[0][len("mariadb-"):]   # E:V-R
    pkgs = [
        m("java-1.8.0-openjdk-headless", "1:1.8.0.412.b08-2.el8", "x86_64", license="ASL 1.1 and GPL+",
          size=33_000_000,
          req=["tzdata-java >= 2024a", "javapackages-filesystem", "copy-jdk-configs >= 3.9",
               "/usr/sbin/alternatives", "libz.so.1()(64bit)", "libc.so.6()(64bit)", "lksctp-tools(x86-64)"],
          prov=["java-headless = 1:1.8.0", "jre-headless = 1:1.8.0", "java-1.8.0-headless = 1:1.8.0.412.b08"],
          files=[f"{jvm}/jre/bin/java", f"{jvm}/jre/lib/rt.jar"]),
        m("tzdata-java", "2024a-1.el8", "noarch", files=["/usr/share/javazi-1.8/tzdb.dat"]),
        m("javapackages-filesystem", "5.3.0-2.el8", "noarch", files=["/usr/share/java-utils/.keep"]),
        m("copy-jdk-configs", "4.0-2.el8", "noarch", req=["javapackages-filesystem"],
          files=["/usr/libexec/copy_jdk_configs.lua"]),
        m("socat", "1.7.4.1-1.el8", "x86_64", req=["libssl.so.3()(64bit)", "libcrypto.so.3()(64bit)",
                                                  "libreadline.so.8()(64bit)", "libc.so.6()(64bit)"],
          files=["/usr/bin/socat"]),
        m("perl-libs", "4:5.26.3-422.el8", "x86_64", prov=["perl(:MODULE_COMPAT_5.26.3)", "perl(strict)"],
          files=["/usr/lib64/libperl.so.5.26"]),
        _modular("perl-DBI", "perl-DBI", "1.641", "88fd4976",
                 req=["perl(:MODULE_COMPAT_5.26.3)", "perl(strict)"], prov=["perl(DBI) = 1.641"],
                 files=["/usr/lib64/perl5/vendor_perl/DBI.pm"]),
        m("python3-policycoreutils", "2.9-24.el8", "noarch", req=["policycoreutils", "python3", "python3-setools"],
          files=["/usr/lib/python3.9/site-packages/sepolicy/__init__.py"]),   # the stand-in base has python 3.9
        m("policycoreutils-python-utils", "2.9-24.el8", "noarch", req=["python3-policycoreutils = 2.9-24.el8"],
          files=["/usr/sbin/semanage"]),
        # the default mariadb:10.3 stream (what a stock EL8 gives for `dnf install mariadb-server`)
        _modular("mariadb-common", **mdb, files=["/etc/my.cnf"]),
        _modular("mariadb-errmsg", **mdb, req=[f"mariadb-common = {mdb_evr}"]),
        _modular("mariadb", **mdb, req=[f"mariadb-common = {mdb_evr}", *ssl], prov=["mysql-client"],
                 files=["/usr/bin/mysql"]),
        _modular("mariadb-server", **mdb, size=10_000_000,
                 req=[f"mariadb = {mdb_evr}", f"mariadb-errmsg = {mdb_evr}", "libaio.so.1()(64bit)", *ssl, "/bin/sh"],
                 prov=["mysql-server"], files=["/usr/libexec/mysqld"]),
        _modular("galera", **mdb, req=[*ssl, "lsof", "/bin/sh"], files=["/usr/lib64/galera/libgalera_smm.so"]),
    ]
    return pkgs


def el8_modules_yaml(pkgs: list[Pkg]) -> str:
    """The real Rocky 8.9 documents (modulemd and modulemd-defaults) of EL8_MODULE_NAMES, verbatim."""
    return "".join(text for text, _doc in _el8_real_docs())


def el8_vendor() -> dict[str, list[Pkg]]:
    return {
        "mariadb": mariadb_repo(8, "10.11.10", "26.4.20"),
        "erlang": [erlang_pkg(8, "27.2.4", "1.el8"), erlang_pkg(8, "26.2.5.6", "1.el8")],
        "rabbitmq": [rabbitmq_pkg("4.0.7", "1.el8", "26.2", "28", socat=False)],
    }


# --- the control-node role (issue 15): Ansible ------------------------------------------------
# EL7: ansible 2.9.27 from EPEL 7 (archived), its EPEL dependencies, and the two CentOS 7 os
# packages it needs that the 7.5 DVD (the c7-os shadow's source) lacks: python-jinja2 and
# python-paramiko; the fixture world carries them in c7-extras (a real 7.9 vault has them in os,
# which keeps c7-os a pure shadow of real records), with sshpass (really in extras). Names, EVRs and the shape of ansible's requirements follow a
# real `yum install ansible` transcript on CentOS 7 (ansible-2.9.27-1.el7 from epel; python2-httplib2,
# python2-jmespath from epel; sshpass from extras); the exact requirement lists are a model.

def el7_epel() -> list[Pkg]:
    """MODELLED EPEL 7 (archive): ansible and the two EPEL packages it needs."""
    py2 = ["python(abi) = 2.7"]
    return [
        m("ansible", "2.9.27-1.el7", "noarch", license="GPLv3+", size=17_000_000,
          req=[*py2, "PyYAML", "python-httplib2", "python-jinja2", "python-paramiko", "python-setuptools",
               "python-six", "python2-cryptography", "python2-jmespath", "sshpass"],
          files=["/usr/bin/ansible", "/usr/bin/ansible-playbook", "/etc/ansible/ansible.cfg"]),
        m("python2-httplib2", "0.18.1-3.el7", "noarch", license="MIT", size=125_000, req=py2,
          prov=["python-httplib2 = 0.18.1-3.el7"], files=["/usr/lib/python2.7/site-packages/httplib2/__init__.py"]),
        m("python2-jmespath", "0.9.4-2.el7", "noarch", license="MIT", size=41_000, req=py2,
          prov=["python-jmespath = 0.9.4-2.el7"], files=["/usr/lib/python2.7/site-packages/jmespath/__init__.py"]),
    ]


def el7_extras() -> list[Pkg]:
    """MODELLED c7-extras: sshpass (what ansible's password logins use), and the two CentOS 7 os
    packages ansible needs that the 7.5 DVD shadow lacks (see above)."""
    py2 = ["python(abi) = 2.7"]
    return [
        m("sshpass", "1.06-2.el7", "x86_64", size=21_000, req=["libc.so.6()(64bit)"], files=["/usr/bin/sshpass"]),
        m("python-jinja2", "2.7.2-4.el7", "noarch", license="BSD", size=519_000,
          req=[*py2, "python-babel >= 0.8", "python-markupsafe"],
          files=["/usr/lib/python2.7/site-packages/jinja2/__init__.py"]),
        m("python-paramiko", "2.1.1-9.el7", "noarch", license="LGPLv2+", size=269_000,
          req=[*py2, "python2-cryptography", "python2-pyasn1"],
          files=["/usr/lib/python2.7/site-packages/paramiko/__init__.py"]),
    ]


def el9_ansible() -> list[Pkg]:
    """MODELLED EL9 AppStream ansible-core, after the real CentOS Stream 9 AppStream record
    (tests/data/realmeta/cs9-appstream: ansible-core-1:2.14.18-1.el9.x86_64 requires python3-PyYAML,
    python3-cryptography, python3-packaging, python3-resolvelib, git-core, sshpass)."""
    py = ["python(abi) = 3.9", "/usr/bin/python3"]
    return [
        m("ansible-core", "1:2.14.18-1.el9", "x86_64", license="GPLv3+", size=15_000_000,
          req=[*py, "python3-pyyaml", "python3-cryptography", "python3-packaging", "python3-resolvelib",
               "git-core", "sshpass", "libc.so.6()(64bit)"],
          files=["/usr/bin/ansible", "/usr/bin/ansible-playbook"]),
        m("python3-cryptography", "36.0.1-4.el9", "x86_64", license="ASL 2.0 or BSD", size=1_200_000,
          req=[*py, "libcrypto.so.3()(64bit)", "libc.so.6()(64bit)"],
          files=["/usr/lib64/python3.9/site-packages/cryptography/__init__.py"]),
        m("python3-packaging", "20.9-5.el9", "noarch", license="BSD or ASL 2.0", size=80_000, req=py,
          files=["/usr/lib/python3.9/site-packages/packaging/__init__.py"]),
        m("python3-resolvelib", "0.5.4-5.el9", "noarch", license="ISC", size=30_000, req=py,
          files=["/usr/lib/python3.9/site-packages/resolvelib/__init__.py"]),
        m("git-core", "2.47.1-1.el9", "x86_64", license="GPLv2", size=4_800_000,
          req=["libc.so.6()(64bit)", "libz.so.1()(64bit)", "libcurl.so.4()(64bit)", "/bin/sh"],
          files=["/usr/bin/git"]),
        m("sshpass", "1.09-4.el9", "x86_64", size=30_000, req=["libc.so.6()(64bit)"], files=["/usr/bin/sshpass"]),
    ]


def el8_ansible() -> list[Pkg]:
    """MODELLED EL8 AppStream ansible-core: on EL8 it runs on its own Python 3.12 (not the platform
    python 3.6), so the python3.12 stack comes with it. Versions are plausible Rocky 8.10 ones."""
    py = ["python(abi) = 3.12", "/usr/bin/python3.12"]
    ssl = ["libcrypto.so.3()(64bit)", "libssl.so.3()(64bit)", "libc.so.6()(64bit)", "libz.so.1()(64bit)"]
    site = "/usr/lib/python3.12/site-packages"
    return [
        m("ansible-core", "2.16.3-2.el8", "x86_64", license="GPLv3+", size=15_000_000,
          req=[*py, "python3.12-pyyaml", "python3.12-cryptography", "python3.12-jinja2", "python3.12-packaging",
               "python3.12-resolvelib", "sshpass", "git-core"],
          files=["/usr/bin/ansible", "/usr/bin/ansible-playbook"]),
        m("python3.12", "3.12.3-2.el8_10", "x86_64", license="Python", size=30_000,
          req=["python3.12-libs = 3.12.3-2.el8_10", "libc.so.6()(64bit)"],
          prov=["python(abi) = 3.12"], files=["/usr/bin/python3.12"]),
        m("python3.12-libs", "3.12.3-2.el8_10", "x86_64", license="Python", size=10_000_000, req=ssl,
          files=["/usr/lib64/libpython3.12.so.1.0"]),
        m("python3.12-pyyaml", "6.0.1-2.el8", "x86_64", license="MIT", size=200_000, req=py,
          files=[f"{site}/yaml/__init__.py"]),
        m("python3.12-cryptography", "41.0.7-1.el8", "x86_64", license="ASL 2.0 or BSD", size=1_200_000,
          req=[*py, *ssl], files=["/usr/lib64/python3.12/site-packages/cryptography/__init__.py"]),
        m("python3.12-jinja2", "3.1.2-1.el8", "noarch", license="BSD", size=500_000,
          req=[*py, "python3.12-markupsafe"], files=[f"{site}/jinja2/__init__.py"]),
        m("python3.12-markupsafe", "2.1.3-1.el8", "x86_64", license="BSD", size=40_000, req=py,
          files=["/usr/lib64/python3.12/site-packages/markupsafe/__init__.py"]),
        m("python3.12-packaging", "23.2-1.el8", "noarch", license="BSD or ASL 2.0", size=100_000, req=py,
          files=[f"{site}/packaging/__init__.py"]),
        m("python3.12-resolvelib", "1.0.1-1.el8", "noarch", license="ISC", size=30_000, req=py,
          files=[f"{site}/resolvelib/__init__.py"]),
        m("git-core", "2.43.5-1.el8_10", "x86_64", license="GPLv2", size=4_800_000,
          req=["libc.so.6()(64bit)", "libz.so.1()(64bit)", "libcurl.so.4()(64bit)", "/bin/sh"],
          files=["/usr/bin/git"]),
        m("sshpass", "1.09-4.el8", "x86_64", size=30_000, req=["libc.so.6()(64bit)"], files=["/usr/bin/sshpass"]),
    ]
