"""Assemble the lab's extracted bundle with the real builder code (no packages: the lab's
binaries are Debian's, and install.sh runs with WCB_SKIP_PHASES="repo packages").

  python -m scripts.lab.make_bundle SITE_YAML JAR OUT_DIR [--since OLD_DIR]

- the installer files: bundler.core.paths.INSTALLER, copied as pack does;
- site/site.env, site/secrets.env (0600), the jar copy: bundler.site.model.load_site + write_site_files;
- site/flows.tsv: bundler.site.flows.write_flows_tsv;
- bundle.env: bundler.assemble.pack.render_bundle_env over a package-less lock whose versions are the
  Debian packages actually installed here (rabbitmq-server decides ha-all vs quorum);
- site/ansible/: bundler.site.fleet.write_ansible (the inventory and playbooks the lab's control node runs);
- MANIFEST.sha256: bundler.assemble.pack.write_manifest, so install.sh's verify phase runs for real.
The site YAML is copied next to the jar first, because its `app.jar` is relative to the site file.

--since OLD_DIR (the lab's rolling upgrade, scripts/lab/lib/rolling.sh): an update bundle whose base is
the extracted lab bundle OLD_DIR: bundle.env says WCB_BUNDLE_KIND=update, WCB_BASE_BUNDLE_ID and
WCB_BASE_LOCK_SHA256 from OLD's bundle.env; its id is `workcenter-update-el9-x86_64-lab-<site>`. It
carries no package (Debian's binaries do not change: the roll is restart-only) and OLD's site/ files
as they are (site.env, secrets.env, the jar): the running site's passwords and cookie stay its own.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bundler.assemble.pack import render_bundle_env, write_manifest
from bundler.carry.diff import lock_sha256
from bundler.core import paths
from bundler.site.fleet import write_ansible
from bundler.site.flows import write_flows_tsv
from bundler.site.model import load_site, write_site_files

ROLES = {
    "db-node": ["MariaDB-server", "MariaDB-client", "galera-4", "rsync", "socat", "lsof"],
    "arbitrator": ["galera-4"],
    "mq-node": ["erlang", "rabbitmq-server", "logrotate"],
    "app-node": ["java-1.8.0-openjdk-headless"],
}
DEBIAN = {"rabbitmq-server": "rabbitmq-server", "erlang": "erlang-base", "MariaDB-server": "mariadb-server"}


def debian_version(pkg: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                         check=True).stdout
    return out.split(":", 1)[-1].split("-", 1)[0].split("+", 1)[0]


def read_env(path: Path) -> dict[str, str]:
    """KEY=value lines of a bundle.env (values unquoted; the lab's own files only)."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("WCB_"):
            env[key] = value.strip("'")
    return env


def main(argv: list[str]) -> int:
    old = None
    if len(argv) == 5 and argv[3] == "--since":
        old = Path(argv[4])
        argv = argv[:3]
    if len(argv) != 3:
        print("usage: python -m scripts.lab.make_bundle SITE_YAML JAR OUT_DIR [--since OLD_DIR]", file=sys.stderr)
        return 1
    site_yaml, jar, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    work = out.parent / (out.name + ".site")
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(site_yaml, work / "site.yaml")
    shutil.copy2(jar, work / jar.name)
    site = load_site(work / "site.yaml")
    out.mkdir(parents=True)
    # LAB_INSTALLER: a copy of installer_stub to bundle instead (scripts/lab/mutants.sh's mutants)
    installer = Path(os.environ.get("LAB_INSTALLER") or paths.INSTALLER)
    for entry in sorted(installer.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, out / entry.name)
        else:
            shutil.copy2(entry, out / entry.name)
    lock = {
        "el": 9, "arch": "x86_64", "manifest": {"name": "workcenter"},
        "roles": {r: {"requested": p} for r, p in ROLES.items()},
        "packages": [{"name": n, "version": debian_version(d), "size": 0} for n, d in DEBIAN.items()],
    }
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    build = {"time": now, "lock_sha256": lock_sha256(lock)}
    base = None
    if old is None:
        write_flows_tsv(out / "site" / "flows.tsv")
        write_site_files(site, out / "site", out)
        top = f"workcenter-el9-x86_64-lab-{site.name}"
    else:
        # the running site's own files: a fresh secrets.env would not match its passwords
        shutil.copytree(old / "site", out / "site")
        old_env = read_env(old / "bundle.env")
        base = {"bundle_id": old_env["WCB_BUNDLE_ID"], "lock_sha256": old_env.get("WCB_LOCK_SHA256", "")}
        top = f"workcenter-update-el9-x86_64-lab-{site.name}"
        if old_env.get("WCB_BUNDLE_KIND") == "update":   # the next patch day on top of an update: the next id
            m = re.fullmatch(r"(.*?)(?:-(\d+))?", old_env["WCB_BUNDLE_ID"])
            top = f"{m.group(1)}-{int(m.group(2) or 1) + 1}"
    # issue 15: the site's Ansible inventory and playbooks, as pack writes them; the bundle's directory
    # name is what its tar (scripts/lab/lib/ansible.sh) holds, so the playbooks' default tar name follows it
    write_ansible(site, out / "site" / "ansible", bundle_id=out.name)
    (out / "bundle.env").write_text(render_bundle_env(lock, top, build, [], [], base))
    write_manifest(out, {})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
