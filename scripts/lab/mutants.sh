#!/usr/bin/env bash
# Deliberate installer mutants the cluster lab must catch (issue 13). For each mutant: copy
# installer_stub/, apply the mutation (refusing to go on if it did not apply), run the lab on the copy
# (LAB_INSTALLER) with only the faults that matter (LAB_FAULTS), and require the lab to FAIL on the
# expected check. Prints each mutant's failed checks; exit 0 only when every mutant was caught.
#   open-port         Galera's 4567 opened to everyone (--add-port) instead of rich rules per peer
#   partition-ignore  rabbitmq.conf keeps RabbitMQ's default cluster_partition_handling = ignore
# usage: flock /tmp/wcb-lab.lock scripts/lab/mutants.sh [MUTANT...]   (root, like make lab)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$(mktemp -d /tmp/wcb-mutants.XXXXXX)"
chmod 0755 "$OUT"
mutants=("$@")
[[ "${#mutants[@]}" -gt 0 ]] || mutants=(open-port partition-ignore)

# mutate NAME DIR: apply mutant NAME to the installer copy DIR; fail when the code it targets moved
mutate() {
  local name="$1" dir="$2" f before
  case "$name" in
    open-port)
      f="$dir/lib/system.sh"
      before="$(sha256sum <"$f")"
      # in wcb_firewall_rules' peer case: the Galera port for anyone, as a careless edit would do
      # shellcheck disable=SC2016 # the inserted line is shell code for the installer
      sed -i '/^            peer)$/a\                [[ "$port" == 4567 ]] \&\& { out+=("--add-port=$port/$proto"); continue; }' "$f"
      ;;
    partition-ignore)
      f="$dir/lib/mq.sh"
      before="$(sha256sum <"$f")"
      sed -i "s/printf 'cluster_partition_handling = pause_minority\\\\n'/printf 'cluster_partition_handling = ignore\\\\n'/" "$f"
      ;;
    *) echo "mutants: unknown mutant $name" >&2; return 1 ;;
  esac
  [[ "$(sha256sum <"$f")" != "$before" ]] || { echo "mutants: $name did not apply to $f (the code moved?)" >&2; return 1; }
}

# what each mutant must break, and the faults its run needs
declare -A EXPECT=([open-port]=firewall.denied [partition-ignore]=fault.mq-partition)
declare -A FAULTS=([open-port]=none [partition-ignore]=mq-partition)

caught=0
for m in "${mutants[@]}"; do
  copy="$OUT/$m/installer_stub"
  mkdir -p "$OUT/$m"
  cp -a "$REPO/installer_stub" "$copy"
  mutate "$m" "$copy"
  diff -ru "$REPO/installer_stub" "$copy" >"$OUT/$m/mutant.diff" || true
  echo "mutant $m: $(grep -c '^[-+][^-+]' "$OUT/$m/mutant.diff") changed lines ($OUT/$m/mutant.diff); running the lab (faults: ${FAULTS[$m]})"
  rc=0
  LAB_INSTALLER="$copy" LAB_FAULTS="${FAULTS[$m]}" "$REPO/scripts/lab/run.sh" >"$OUT/$m/lab.log" 2>&1 || rc=$?
  failed="$(sed -n 's/^  FAIL  \([^:]*\):.*/\1/p' "$OUT/$m/lab.log" | sort -u | tr '\n' ' ')"
  if [[ "$rc" != 0 && " $failed " == *" ${EXPECT[$m]} "* ]]; then
    caught=$((caught + 1))
    echo "mutant $m: CAUGHT (lab exit $rc); failed checks: ${failed% }"
  else
    echo "mutant $m: NOT CAUGHT (lab exit $rc; expected ${EXPECT[$m]} to fail); failed checks: ${failed:-none}"
  fi
  grep '^  FAIL  ' "$OUT/$m/lab.log" | cut -c1-400 | sed 's/^/    /'
  tail -n1 "$OUT/$m/lab.log" | sed 's/^/    /'
done
echo "mutants: $caught/${#mutants[@]} caught; logs in $OUT"
[[ "$caught" == "${#mutants[@]}" ]]
