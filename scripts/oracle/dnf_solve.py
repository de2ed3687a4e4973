"""dnf's own solves, for the oracle tests: run with the system python that has python3-dnf.

Reads one JSON job on stdin:
  {"root": DIR,                    installroot (its rpmdb is the installed system; may be empty)
   "work": DIR,                    cache, repos.d, logs
   "repos": {"id": "file:///..." | {"url": ..., "module_hotfixes": bool, "excludepkgs": [...],
            "includepkgs": [...]}},
  "releasever": "7", "platform": "platform:el9" | null,
   "weak": false, "exclude": ["*.i686"], "group": "core" | null,
   "dbpath": "/var/lib/rpm",       the rpmdb inside the root (default /var/lib/rpm)
   "modules": {"mariadb": "disabled" | "enabled:10.11"},   module states, as `dnf module` leaves them
   "sets": [["name", ...], ...]}
and prints one JSON list, one entry per set (or, with "group", one entry for `group install`):
  {"ok": true, "install": [...], "upgrade": [...], "obsoleted": [...], "downgrade": [...]}
  {"ok": false, "error": "..."}
NEVRAs are name-epoch:version-release.arch. dnf runs with its defaults (best=False, obsoletes=True,
no --allowerasing); gpgcheck stays on (a solve never reaches the signature step).
"""

import json
import os
import sys

import dnf
import dnf.exceptions
import rpm


def nevra(p):
    return f"{p.name}-{p.epoch}:{p.version}-{p.release}.{p.arch}"


def main():
    job = json.load(sys.stdin)
    work = job["work"]
    for d in ("cache", "repos", "log", "persist"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    with open(os.path.join(work, "repos", "oracle.repo"), "w") as fh:
        for rid, repo in job["repos"].items():
            repo = repo if isinstance(repo, dict) else {"url": repo}
            exclude = list(job.get("exclude") or []) + list(repo.get("excludepkgs") or [])
            fh.write(f"[{rid}]\nname={rid}\nbaseurl={repo['url']}\nenabled=1\ngpgcheck=1\n"
                     f"excludepkgs={','.join(exclude)}\n")
            if repo.get("includepkgs"):
                fh.write(f"includepkgs={','.join(repo['includepkgs'])}\n")
            if repo.get("module_hotfixes"):
                fh.write("module_hotfixes=1\n")
            fh.write("\n")
    moddir = os.path.join(job["root"], "etc", "dnf", "modules.d")
    for name, state in (job.get("modules") or {}).items():   # what `dnf module enable/disable` writes
        os.makedirs(moddir, exist_ok=True)
        state, _, stream = state.partition(":")
        with open(os.path.join(moddir, f"{name}.module"), "w") as fh:
            fh.write(f"[{name}]\nname={name}\nstream={stream}\nprofiles=\nstate={state}\n")
    base = dnf.Base()
    c = base.conf
    c.installroot = job["root"]
    c.cachedir = os.path.join(work, "cache")
    c.reposdir = [os.path.join(work, "repos")]
    c.logdir = os.path.join(work, "log")
    c.persistdir = os.path.join(work, "persist")
    c.install_weak_deps = bool(job.get("weak"))
    c.best = False
    c.substitutions["releasever"] = job["releasever"]
    c.substitutions["basearch"] = "x86_64"
    c.arch = "x86_64"
    if job.get("platform"):
        c.module_platform_id = job["platform"]
    base.read_all_repos()
    # the roots' rpmdb (after dnf.Base(), which reads rpm's config); "dbpath": a root dnf itself filled on
    # this host, where rpm's own default applies (Debian: ~/.rpmdb)
    rpm.addMacro("_dbpath", job.get("dbpath") or "/var/lib/rpm")
    base.fill_sack(load_system_repo=True)
    out = []
    if job.get("group"):
        base.read_comps()
        grp = base.comps.group_by_pattern(job["group"])
        base.group_install(grp.id, ("mandatory", "default"))
        out.append(_resolve(base))
    for names in job.get("sets") or []:
        base.reset(goal=True)
        try:
            for n in names:
                base.install(n)
        except dnf.exceptions.MarkingError as exc:
            out.append({"ok": False, "error": f"no match: {exc}"})
            continue
        out.append(_resolve(base))
    json.dump(out, sys.stdout)


def _resolve(base):
    try:
        base.resolve()
    except dnf.exceptions.DepsolveError as exc:
        return {"ok": False, "error": str(exc)}
    goal = base._goal
    return {"ok": True,
            "install": sorted(nevra(p) for p in goal.list_installs()),
            "upgrade": sorted(nevra(p) for p in goal.list_upgrades()),
            "downgrade": sorted(nevra(p) for p in goal.list_downgrades()),
            "reinstall": sorted(nevra(p) for p in goal.list_reinstalls()),
            "obsoleted": sorted(nevra(p) for p in goal.list_obsoleted()),
            "erase": sorted(nevra(p) for p in goal.list_erasures())}


if __name__ == "__main__":
    main()
