#!/usr/bin/env bash
# roles/control-node.sh: Ansible on one host of the site (issue 15). The packages phase installs it
# (ansible-core from AppStream on EL8/9, ansible from EPEL 7 on EL7); there is nothing to configure or
# start: the operator runs the bundle's site/ansible/ playbooks from here (README, "From the USB stick
# to ansible-playbook"). The health phase proves ansible-playbook runs.
set -euo pipefail

# usage: wcb_control_node_version   print ansible-playbook's first --version line (empty when it does not run)
wcb_control_node_version() {
    local out
    command -v ansible-playbook >/dev/null 2>&1 || return 0
    out="$(timeout 60 ansible-playbook --version 2>/dev/null)" || return 0
    printf '%s\n' "${out%%$'\n'*}"
}

# usage: wcb_role_control_node_health   phase 8 for control-node: ansible-playbook runs
wcb_role_control_node_health() {
    local seen
    seen="$(wcb_control_node_version)"
    wcb_health_row "ansible-playbook --version" runs "${seen:-does not run (not on PATH, or --version failed)}" "$([[ -n "$seen" ]] && echo ok || echo FAIL)"
}
