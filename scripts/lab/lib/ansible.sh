#!/usr/bin/env bash
# The lab drives site A through Ansible (issue 15): a `control` namespace runs ansible-playbook (ansible-core
# from the dev venv) against an sshd in every site-A host namespace, with the bundle's own generated
# site/ansible/ inventory and playbooks. Sourced by scripts/lab/run.sh after lib/net.sh and lib/hosts.sh.
#   sshd     Debian's openssh-server, one per host, listening on that host's lab address only (port 22,
#            which firewalld's default zone allows), root by key only, the lab's own keys
#   keys     generated per run in $LAB_DIR/ssh (0700): one host key per host, one client key; known_hosts
#            lists each host key, and ssh checks it (StrictHostKeyChecking=yes, no user ssh config read)
#   bundle   the lab's bundle-3db as a tar + .sha256 on the control node: install.yml copies, checks
#            (sha256sum -c) and extracts it on every host into $LAB_DIR/<host>/wcb, as on a real site
#   seams    per host in the inventory's wcb_env (the plays' environment): WCB_ROOT, the direct service
#            backend, WCB_SKIP_PHASES, that host's firewalld bus: what lab_install passes to install.sh
# Everything runs inside the namespaces, so lab_kill_all stops it by pid; the keys go with $LAB_DIR.

LAB_CONTROL_IP_LAST=5                  # 198.18.0.5: the control node (no site role)
LAB_ANSIBLE_BIN="${LAB_ANSIBLE_BIN:-$LAB_REPO/.venv/bin}"
LAB_ANSIBLE_HOSTS=()                    # the hosts an sshd was started for

# lab_ansible_env: the environment ansible-playbook runs with: its state under $LAB_DIR, no user config
lab_ansible_env() {
  local a="$LAB_DIR/ansible"
  printf '%s\n' "HOME=$a/home" "ANSIBLE_LOCAL_TEMP=$a/home/tmp" "ANSIBLE_SSH_CONTROL_PATH_DIR=$a/cp" \
    "ANSIBLE_NOCOLOR=1" "ANSIBLE_FORCE_COLOR=0" "ANSIBLE_RETRY_FILES_ENABLED=0" "ANSIBLE_FORKS=10" \
    "ANSIBLE_HOST_KEY_CHECKING=True" "ANSIBLE_CONFIG=$a/ansible.cfg" "LC_ALL=C.UTF-8"
}

# lab_ansible_sshd HOST IP: start HOST's sshd on IP:22 (its own host key), recorded in LAB_ANSIBLE_HOSTS
lab_ansible_sshd() {
  local host="$1" ip="$2" d="$LAB_DIR/ssh"
  ssh-keygen -q -t ed25519 -N '' -C "wcb-lab host $host" -f "$d/host-$host" </dev/null
  printf '%s %s\n' "$ip" "$(cut -d' ' -f1-2 "$d/host-$host.pub")" >>"$d/known_hosts"
  # StrictModes no: the keys live in the lab's private 0700 directory under /tmp, whose sticky,
  # world-writable mode StrictModes refuses on the path; only the lab's client key is authorized
  cat >"$d/sshd-$host.conf" <<EOF
ListenAddress $ip:22
HostKey $d/host-$host
PidFile $d/sshd-$host.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitUserEnvironment no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
LogLevel INFO
EOF
  lab_exec "$host" /usr/sbin/sshd -D -e -f "$d/sshd-$host.conf" >"$LAB_DIR/logs/sshd-$host.log" 2>&1 &
  LAB_ANSIBLE_HOSTS+=("$host")
}

# lab_ansible_ssh_ok HOST IP: the control node reaches HOST's sshd with the lab key and a checked host key
lab_ansible_ssh_ok() {
  lab_exec control ssh -F /dev/null -i "$LAB_DIR/ssh/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$LAB_DIR/ssh/known_hosts" -o ConnectTimeout=5 \
    "root@$2" true
}

# lab_ansible_setup BUNDLE HOST...: the control namespace, keys, an sshd per HOST, the bundle tar + .sha256,
# and the inventory: the bundle's site/ansible/inventory.yml plus, per host, the ssh settings and the seams
lab_ansible_setup() {
  local bundle="$1" h ip up=0
  shift
  lab_host_add control "$LAB_NET_PREFIX.$LAB_CONTROL_IP_LAST"
  mkdir -p /run/sshd                   # sshd's privilege separation directory (Debian makes it at boot)
  mkdir -m 0700 "$LAB_DIR/ssh" "$LAB_DIR/ansible" "$LAB_DIR/ansible/home" "$LAB_DIR/ansible/cp" "$LAB_DIR/usb"
  : >"$LAB_DIR/ansible/ansible.cfg"    # an empty config: nothing from /etc/ansible or a user's file
  ssh-keygen -q -t ed25519 -N '' -C "wcb-lab control" -f "$LAB_DIR/ssh/id_ed25519" </dev/null
  install -m 0600 "$LAB_DIR/ssh/id_ed25519.pub" "$LAB_DIR/ssh/authorized_keys"
  : >"$LAB_DIR/ssh/known_hosts"
  for h in "$@"; do
    lab_ansible_sshd "$h" "$(lab_ansible_node_ip "$bundle" "$h")"
  done
  for h in "$@"; do
    ip="$(lab_ansible_node_ip "$bundle" "$h")"
    lab_wait 30 lab_ansible_ssh_ok "$h" "$ip" && up=$((up + 1))
  done
  lab_check ansible.sshd "$([[ "$up" == "$#" ]] && echo 1 || echo 0)" \
    "sshd on $up/$# site-A hosts (lab addresses only, port 22, root by the lab key, host keys checked from control)"
  lab_ansible_usb "$bundle"
  cp "$bundle"/site/ansible/*.yml "$LAB_DIR/ansible/"
  "$LAB_ANSIBLE_BIN/python" - "$bundle/site/ansible/inventory.yml" "$LAB_DIR" "$LAB_DIR/ansible/inventory.yml" \
    "$@" <<'PY'
import sys, yaml
src, lab, dest, hosts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
inv = yaml.safe_load(open(src))
for group in inv["all"]["children"].values():
    for name, hv in (group.get("hosts") or {}).items():
        if name not in hosts:
            raise SystemExit(f"inventory host {name} has no sshd in the lab")
        hv.update({
            "ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": f"{lab}/ssh/id_ed25519",
            "ansible_ssh_common_args": f"-F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes "
                                       f"-o UserKnownHostsFile={lab}/ssh/known_hosts -o ConnectTimeout=10",
            "ansible_remote_tmp": f"{lab}/{name}/ansible-tmp",
            "wcb_remote_dir": f"{lab}/{name}/wcb",
            # the seams lab_install gives install.sh, per host (lib/hosts.sh)
            "wcb_env": {"WCB_ROOT": f"{lab}/{name}/root", "WCB_SERVICE_BACKEND": "direct",
                        "WCB_SKIP_PHASES": "repo packages", "WCB_SERVICE_TIMEOUT": "240",
                        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={lab}/{name}/dbus/bus"},
        })
yaml.safe_dump(inv, open(dest, "w"), sort_keys=False)
PY
}

LAB_ANSIBLE_TAR=""

# lab_ansible_usb BUNDLE: the USB stick: BUNDLE as a tar and its sidecar, as wcbundle build writes them;
# the playbooks name it (LAB_ANSIBLE_TAR)
lab_ansible_usb() {
  LAB_ANSIBLE_TAR="$LAB_DIR/usb/$(basename "$1").tar"
  tar -C "$(dirname "$1")" -cf "$LAB_ANSIBLE_TAR" "$(basename "$1")"
  (cd "$LAB_DIR/usb" && sha256sum "$(basename "$1").tar" >"$(basename "$1").tar.sha256")
}

# lab_ansible_node_index BUNDLE HOST: HOST's index n in site.env (WCB_NODE_<n>_NAME)
lab_ansible_node_index() {
  sed -n "s/^WCB_NODE_\([0-9]*\)_NAME=$2\$/\1/p" "$1/site/site.env"
}

# lab_ansible_node_ip BUNDLE HOST: HOST's internal IP from site.env
lab_ansible_node_ip() {
  sed -n "s/^WCB_NODE_$(lab_ansible_node_index "$1" "$2")_IP=//p" "$1/site/site.env"
}

# lab_ansible_play PLAYBOOK LOG [ARG...]: ansible-playbook PLAYBOOK in the control namespace against the lab
# inventory, the bundle tar named; output in LOG; returns its exit code
lab_ansible_play() {
  local pb="$1" log="$2" rc=0
  local -a envs=()
  shift 2
  mapfile -t envs < <(lab_ansible_env)
  lab_exec control env "${envs[@]}" timeout 3600 "$LAB_ANSIBLE_BIN/ansible-playbook" \
    -i "$LAB_DIR/ansible/inventory.yml" "$LAB_DIR/ansible/$pb" -e "wcb_bundle=$LAB_ANSIBLE_TAR" "$@" >"$log" 2>&1 || rc=$?
  return "$rc"
}

# lab_ansible_collect_logs HOST...: each host's install.sh logs (in run order) as the lab's NN-host-install.log,
# so the checks that read install logs (one bootstrap, SST kind, secrets) read what Ansible ran
lab_ansible_collect_logs() {
  local h f
  for h in "$@"; do
    for f in "$(lab_root "$h")"/var/log/wcbundle/install-*.log; do   # install-<UTC time>-<pid>.log: run order
      [[ -f "$f" ]] || continue
      LAB_INSTALL_RUNS=$((LAB_INSTALL_RUNS + 1))
      cp "$f" "$LAB_DIR/logs/$(printf '%02d' "$LAB_INSTALL_RUNS")-$h-install.log"
    done
  done
}

# lab_ansible_recap LOG HOST...: "ok" when the play recap lists every HOST with failed=0 unreachable=0
lab_ansible_recap() {
  local log="$1" h line bad=0
  shift
  for h in "$@"; do
    line="$(grep -E "^$h +: ok=" "$log" | tail -n1)"
    [[ -n "$line" && "$line" == *" unreachable=0 "* && "$line" == *" failed=0 "* ]] || bad=$((bad + 1))
  done
  [[ "$bad" == 0 ]]
}

ANSIBLE_OK=0

# lab_ansible_install BUNDLE HOST...: site A installed by ansible-playbook install.yml (the bundle's own,
# generated by bundler/site/fleet.py) from the control namespace; 0 when every host's installer succeeded
lab_ansible_install() {
  local bundle="$1" t0 rc=0 log="$LAB_DIR/logs/ansible-install.log" ok=0 runs
  shift
  lab_ansible_setup "$bundle" "$@"
  t0=$SECONDS
  lab_ansible_play install.yml "$log" || rc=$?
  ANSIBLE_INSTALL_S=$((SECONDS - t0))
  lab_ansible_collect_logs "$@"
  runs="$(grep -c '^TASK \[install.sh --role ' "$log" || true)"
  [[ "$rc" == 0 ]] && lab_ansible_recap "$log" "$@" && ok=1
  ANSIBLE_OK=$ok
  lab_check ansible.install "$ok" \
    "ansible-playbook install.yml (control namespace, ssh): exit $rc in $ANSIBLE_INSTALL_S s, $# hosts, $runs install.sh plays, recap failed=0 unreachable=0 on every host (log $log)"
  [[ "$ok" == 1 ]] || tail -n 40 "$log" | sed 's/^/        | /'
  lab_result ansible.hosts "$#"
  lab_result ansible.install_wall_s "$ANSIBLE_INSTALL_S"
  lab_result ansible.ok "$([[ "$ANSIBLE_OK" == 1 ]] && echo true || echo false)"
  [[ "$ok" == 1 ]]
}

# lab_ansible_upgrade DBHOST...: ansible-playbook upgrade.yml under write and publish load (faults.sh's
# load_start/load_stop_check): install.sh --upgrade one host at a time in install order, then --finalize on
# the first mq node. Under the lab's seam (no packages: installed.tsv lacks the bundle, so every node is
# pending) each node goes through the real gates, drain, stop, start, Synced wait and revive.
lab_ansible_upgrade() {
  local t0 rc=0 log="$LAB_DIR/logs/ansible-upgrade.log" ok=0 nodes upd base="$LAB_DIR/bundle-3db-update" carried h staged
  # the next patch day: an update (build --since) on top of what site A runs (lib/rolling.sh's update
  # when it ran, else the install bundle) on the USB stick, and its own upgrade.yml
  [[ -f "$base/bundle.env" ]] || base="$B3"
  upd="$(roll_bundle "$LAB_DIR/bundle-3db-update2" "$base")" || upd=""
  if [[ -f "$upd/bundle.env" ]]; then
    lab_ansible_usb "$upd"
    cp "$upd/site/ansible/upgrade.yml" "$LAB_DIR/ansible/upgrade.yml"
  fi
  carried="$(basename "$LAB_ANSIBLE_TAR")"
  for h in "${LAB_ANSIBLE_HOSTS[@]}"; do   # "staged" below proves this play staged it
    rm -rf -- "${LAB_DIR:?}/$h/wcb/${carried%.tar}"
  done
  load_start ansible-upgrade
  t0=$SECONDS
  lab_ansible_play upgrade.yml "$log" || rc=$?
  ANSIBLE_UPGRADE_S=$((SECONDS - t0))
  load_stop_check "$@"
  nodes="$(grep -c '^ok: \[.*\]\|^changed: \[.*\]' "$log" || true)"
  staged=0
  for h in "${LAB_ANSIBLE_HOSTS[@]}"; do   # upgrade.yml staged the carried bundle on every host (wcb_remote_dir)
    [[ -f "$LAB_DIR/$h/wcb/${carried%.tar}/install.sh" ]] && staged=$((staged + 1))
  done
  [[ "$rc" == 0 && "$staged" == "${#LAB_ANSIBLE_HOSTS[@]}" && "$carried" == bundle-3db-update2.tar ]] && lab_ansible_recap "$log" "${LAB_ANSIBLE_HOSTS[@]}" &&
    [[ "$F_DATA_OK" == 1 ]] && ok=1
  lab_check ansible.upgrade "$ok" \
    "ansible-playbook upgrade.yml -e wcb_bundle=usb/$carried (staged on $staged/${#LAB_ANSIBLE_HOSTS[@]} hosts): exit $rc in $ANSIBLE_UPGRADE_S s ($nodes task results), one host at a time, --finalize on the first mq node; $F_DATA_DETAIL (log $log)"
  [[ "$ok" == 1 ]] || tail -n 40 "$log" | sed 's/^/        | /'
  [[ "$ok" == 1 && "$ANSIBLE_OK" == 1 ]] && ANSIBLE_OK=1 || ANSIBLE_OK=0
  lab_result ansible.upgrade_wall_s "$ANSIBLE_UPGRADE_S"
  lab_result ansible.upgrade_rows_acked "$F_ROWS_ACKED"
  lab_result ansible.upgrade_rows_lost "$F_ROWS_LOST"
  lab_result ansible.upgrade_messages_confirmed "$F_MSGS_CONFIRMED"
  lab_result ansible.upgrade_messages_lost "$F_MSGS_LOST"
  lab_result ansible.ok "$([[ "$ANSIBLE_OK" == 1 ]] && echo true || echo false)"
}
