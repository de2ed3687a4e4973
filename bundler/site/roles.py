"""The roles of a WorkCenter site, defined once: names, install order and per-role facts.

Everything that names roles reads them from here: the site model (which roles exist, which a
site must have, site.env's WCB_NODE_<n>_ROLES pattern), the flow table's endpoints
(flows.py), the plan's diagram colours (plan.py), the report's install order and wording
(assemble/report.py), and the installer's role registry (`render_registry_sh()`, written
into the bundle as lib/roles_registry.sh by pack, checked in as installer_stub/lib/roles_registry.sh
for the tests and the lab, and read by install.sh: install order, units, phase hooks). The packages of each role come from the manifest
(manifests/workcenter.yaml `roles:`); the target-side work from installer_stub/roles/<name>.sh.

Adding a role: one `Role(...)` entry below (in the order roles are listed to the user; `order`
is the install order), its packages in the manifest, its flows in flows.py, and
installer_stub/roles/<name>.sh (docs/design.md, "How to add a role").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The per-role hooks the installer's phases call (lib/phases.sh): wcb_role_<name>_<hook> in roles/<name>.sh
HOOKS = ("config", "services", "health", "recover")


@dataclass(frozen=True)
class Role:
    name: str
    order: int          # install order: lower first (install.sh and the report follow it)
    summary: str        # what runs there, in a few words (install.sh --help, the report)
    required: bool      # a site must have at least one host with this role
    step: str           # the report's install-order sentence
    fill: str           # the plan diagram's node colour
    edge: str           # the plan diagram's edge colour for flows from this role
    unit: str           # the service unit its services phase starts (lib/service.sh); "" for a role without one
    galera_voter: bool = False  # counts towards the Galera quorum (db-node, arbitrator)
    hooks: tuple[str, ...] = HOOKS  # the installer phases it takes part in (wcb_role_<name>_<hook>)

    @property
    def script(self) -> str:
        """The role's installer file inside the bundle."""
        return f"roles/{self.name}.sh"


# In listing order (messages, site.env's pattern); `order` gives the install order.
ROLES: tuple[Role, ...] = (
    Role("db-node", 1, "MariaDB Galera", True,
         "db nodes first, one at a time: the first bootstraps the Galera cluster, the others join it",
         "#d9f2dd", "#15803d", "mariadb", galera_voter=True),
    Role("mq-node", 3, "RabbitMQ", True, "then the mq nodes: they form the RabbitMQ cluster",
         "#fde7c7", "#c2410c", "rabbitmq-server"),
    Role("app-node", 4, "WorkCenter", True,
         "the app nodes last: WorkCenter starts once the database and the broker answer",
         "#dbeafe", "#1d4ed8", "workcenter"),
    Role("arbitrator", 2, "garbd", False, "then the arbitrator: garbd joins the Galera cluster as its extra vote",
         "#ececec", "#4b5563", "garb", galera_voter=True),
    # issue 15: Ansible on a host of the site, which runs the playbooks of site/ansible/ (no service;
    # installed first by hand on that host: ./install.sh --role control-node)
    Role("control-node", 5, "Ansible (runs site/ansible/)", False,
         "the control node (Ansible): on a site driven by the playbooks of site/ansible/, install it by hand before "
         "running them; it needs no other role",
         "#fef9c3", "#a16207", "", hooks=("health",)),
)

BY_NAME = {r.name: r for r in ROLES}
NAMES: tuple[str, ...] = tuple(r.name for r in ROLES)
REQUIRED: tuple[str, ...] = tuple(r.name for r in ROLES if r.required)
INSTALL_ORDER: tuple[str, ...] = tuple(r.name for r in sorted(ROLES, key=lambda r: r.order))
GALERA_VOTERS: tuple[str, ...] = tuple(r.name for r in ROLES if r.galera_voter)


def role(name: str) -> Role:
    return BY_NAME[name]


def render_registry_sh() -> str:
    """lib/roles_registry.sh: the installer's copy of the role table, generated (never edited).

    Declares WCB_ROLE_ORDER (install order), WCB_ROLE_REQUIRED, WCB_ROLE_GALERA_VOTERS and the
    associative arrays WCB_ROLE_SCRIPT / WCB_ROLE_SUMMARY / WCB_ROLE_UNIT / WCB_ROLE_HOOKS keyed by
    role name. Values are fixed words from this file (checked here: no quoting needed beyond the
    single quotes used). install.sh boot-checks it and reads it before anything else of the roles."""
    def words(names) -> str:
        return " ".join(names)

    for r in ROLES:  # a mistake in ROLES above, not an input error
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", r.name) or not re.fullmatch(r"[a-z0-9@.-]*", r.unit) \
                or not set(r.hooks) <= set(HOOKS) or "'" in r.summary:
            raise ValueError(f"role {r.name!r}: a name of lower-case words joined by '-', a unit name, "
                             f"hooks of {HOOKS} and a summary without a quote")

    out = ["#!/usr/bin/env bash",
           "# roles_registry.sh: GENERATED by wcbundle from bundler/site/roles.py; do not edit.",
           "# Regenerate: python -c 'from bundler.site.roles import render_registry_sh; "
           "print(render_registry_sh(), end=\"\")'",
           "# The installer's role registry: every role in install order (services come up in this order",
           "# whatever --role names), the roles a site needs, the Galera voters, and per role its file, its",
           "# service unit and the phase hooks that file defines as wcb_role_<role>_<hook> (dashes as '_').",
           "# shellcheck disable=SC2034  # read by install.sh and lib/",
           "set -euo pipefail", "",
           f"WCB_ROLE_ORDER=({words(INSTALL_ORDER)})",
           f"WCB_ROLE_REQUIRED=({words(REQUIRED)})",
           f"WCB_ROLE_GALERA_VOTERS=({words(GALERA_VOTERS)})",
           "# declared, then assigned: bash 4.2 (EL7) drops `declare -gA X=(...)` made inside a function (a sourcing one)",
           "declare -gA WCB_ROLE_SCRIPT WCB_ROLE_SUMMARY WCB_ROLE_UNIT WCB_ROLE_HOOKS",
           "WCB_ROLE_SCRIPT=() WCB_ROLE_SUMMARY=() WCB_ROLE_UNIT=() WCB_ROLE_HOOKS=()"]
    for name in INSTALL_ORDER:
        r = BY_NAME[name]
        out += [f"WCB_ROLE_SCRIPT[{r.name}]={r.script}", f"WCB_ROLE_SUMMARY[{r.name}]='{r.summary}'",
                f"WCB_ROLE_UNIT[{r.name}]={r.unit}", f"WCB_ROLE_HOOKS[{r.name}]='{words(r.hooks)}'"]
    return "\n".join(out) + "\n"
