#!/usr/bin/env bash
# Install the Debian packages wcbundle's builder, tests and lab use, if missing.
# Needs root (CI runs as root); as a normal user it only reports what is missing.
set -euo pipefail

PKGS=(
  rpm dnf gnupg gpgv                       # rpmbuild/rpmsign/rpmkeys, dnf --installroot proof, signing
  zstd bzip2 xz-utils                      # compressed repo metadata (.zst/.bz2/.xz)
  shellcheck bats                          # installer lint and tests
  graphviz fonts-nanum                     # topology diagram (dot); Hangul glyphs for the Korean sheet headings
  chromium                                 # report.html render test
  iproute2 mariadb-server mariadb-client galera-4 galera-arbitrator-4 rabbitmq-server socat rsync lsof  # cluster lab
  mariadb-backup                           # the lab's mariabackup SST (the site default)
  firewalld nftables                       # the lab's real firewall: firewalld per host namespace, nftables backend
  openjdk-17-jdk-headless                  # javac + jar for the lab's stand-in WorkCenter jar
  openssh-client                           # ansible-playbook's ssh connection (tests/unit/test_fleet.py)
  openssh-server                           # the lab's sshd in each host namespace (scripts/lab/lib/ansible.sh)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Services installed here must not start by themselves: the lab starts its own daemons.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
