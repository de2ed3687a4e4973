"""What each EL world contains: repo id -> the packages to build for it.

EL7: c7-os shadows the real CentOS 7.5 DVD metadata (the closure of @core +
the roles' base packages + what the modelled vendor packages require);
c7-updates carries the modelled baseline-upgrade scenario; c7-extras is an
empty but valid repo; mariadb/erlang/rabbitmq are modelled.
EL9: el9-baseos shadows the real CS9 BaseOS (2022-02); el9-appstream and
the vendor repos are modelled.
EL8: el8-baseos is a STAND-IN: the same real CS9 BaseOS records (no EL8
primary is available; the base OS only has to be a consistent, real one);
el8-appstream is modelled, with the REAL Rocky 8.9 module documents of
mariadb (default 10.3), mysql, perl and perl-DBI and their defaults; the
vendor repos are modelled for EL8.
"""

from __future__ import annotations

from pathlib import Path

from . import model
from .pkg import Dep, Pkg
from .realmeta import closure, comps_group, read_filelists, read_primary, repodata_file

PROJECT = Path(__file__).resolve().parents[2]
REALMETA = PROJECT / "tests" / "data" / "realmeta"
REAL_DIRS = {7: REALMETA / "centos7.5-dvd-x86_64", 8: REALMETA / "cs9-baseos-2022-x86_64",
             9: REALMETA / "cs9-baseos-2022-x86_64"}
REPO_IDS = {7: ["c7-os", "c7-updates", "c7-extras", "epel", "mariadb", "erlang", "rabbitmq"],
            8: ["el8-baseos", "el8-appstream", "mariadb", "erlang", "rabbitmq"],
            9: ["el9-baseos", "el9-appstream", "mariadb", "erlang", "rabbitmq"]}
BASE_REPO = {7: "c7-os", 8: "el8-baseos", 9: "el9-baseos"}
# Base-repo packages the roles ask for by name (domain-facts §1 + semanage).
ROLE_BASE = {7: ["java-1.8.0-openjdk-headless", "rsync", "socat", "lsof", "perl-DBI", "logrotate",
                 "policycoreutils-python", "mariadb-libs"],
             8: ["rsync", "lsof", "logrotate", "policycoreutils"],
             9: ["rsync", "lsof", "logrotate", "policycoreutils"]}


def _key(pkg: Pkg) -> tuple[str, str, str]:
    return (pkg.name, pkg.arch, f"{pkg.version}-{pkg.release}")


def _external_deps(models: list[Pkg]) -> list[Dep]:
    """Requirements of the modelled packages that the models do not satisfy themselves.

    Versions are dropped: the base closure only has to hold *a* provider (the
    c7-updates scenario deliberately asks for more than c7-os has).
    """
    provided = {d.name for p in models for d in p.provides} | {f for p in models for f in p.files}
    out = {}
    for p in models:
        for d in p.requires:
            if d.name not in provided:
                out[d.name] = Dep(d.name)
    return list(out.values())


def _assign_files(shadow: list[Pkg], everything: list[Pkg], real_dir: Path) -> None:
    """Give each shadow package the real paths (from filelists) that some package requires."""
    required = {d.name for p in everything for d in p.requires if d.name.startswith("/")}
    files = read_filelists(repodata_file(real_dir, "filelists.xml.gz"), {_key(p) for p in shadow})
    for pkg in shadow:
        real = files.get(_key(pkg), {})
        pkg.files = {path: kind for path, kind in real.items() if path in required}
    # A path shipped as a file must not also be a parent of another shipped path.
    parents = {str(Path(f).parent) for p in everything for f in p.files}
    for pkg in everything:
        pkg.files = {f: ("dir" if f in parents else k) for f, k in pkg.files.items()}


def plan(el: int) -> dict[str, list[Pkg]]:
    if el not in REAL_DIRS:
        raise ValueError(f"no fixture world for EL{el} (have: 7, 8, 9)")
    real_dir = REAL_DIRS[el]
    real = read_primary(repodata_file(real_dir, "primary.xml.gz"))
    vendor = {7: model.el7_vendor, 8: model.el8_vendor, 9: model.el9_vendor}[el]()
    extra: dict[str, list[Pkg]] = {}
    if el == 7:
        by_name = {p.name: p for p in real if p.arch in ("x86_64", "noarch")}
        extra["c7-updates"] = model.el7_updates(by_name)
        extra["c7-extras"] = model.el7_extras()
        extra["epel"] = model.el7_epel()
    elif el == 8:
        extra["el8-appstream"] = model.el8_appstream() + model.el8_ansible()
    else:
        extra["el9-appstream"] = model.el9_appstream() + model.el9_ansible()
    models = [p for ps in list(vendor.values()) + list(extra.values()) for p in ps]
    wanted = closure(real_dir, comps_group(comps_source(el)) + ROLE_BASE[el], _external_deps(models))
    shadow = [p for p in real if _key(p) in wanted]
    if len(shadow) != len(wanted):
        raise RuntimeError(f"EL{el}: closure names {len(wanted)} packages, primary gave {len(shadow)}")
    updates = extra.get("c7-updates", [])
    for upd in updates:   # clones of real packages carry the same files as their originals
        upd.files = {}
    _assign_files(shadow + updates, shadow + models, real_dir)
    out = {BASE_REPO[el]: shadow, **extra, **vendor}
    return {rid: out[rid] for rid in REPO_IDS[el]}


def comps_source(el: int) -> Path:
    real_dir = REAL_DIRS[el]
    return repodata_file(real_dir, "comps.xml.gz") if el == 7 else repodata_file(real_dir, "BaseOS.x86_64.xml.gz")


def input_files(el: int) -> list[Path]:
    """Everything whose content decides the world (for the cache key)."""
    real = sorted(p for p in (REAL_DIRS[el] / "repodata").iterdir() if p.is_file())
    if el == 8:
        real.append(model.EL8_MODULES)
    # The modules that shape the content; the API/CLI (__init__, __main__) do not.
    code = sorted(p for p in Path(__file__).parent.glob("*.py") if not p.name.startswith("__"))
    return code + real
