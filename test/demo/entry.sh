#!/bin/bash
# The demo, inside the guest, over two boots. Boot 1: spliced installed from its Debian package with apt is handed a
# kernel source patch, builds the splice for the running kernel and applies it live; the effect is shown. Boot 2: the
# splice is live again right after the reboot (spliced reapplied it), then reverted live. Each step's effect is
# checked: the demo fails when one did not happen. Lines for the audience start with "demo| ".
set -euo pipefail
say() { echo "demo| $*" > /dev/console; }
show() { say "\$ $*"; "$@" 2>&1 | sed 's/^/demo|   /' > /dev/console || fail "$*"; }
fail() { say "FAILED: $*"; exit 1; }
patch=$SPLICED_SRC/test/fixtures/patches/01-string-meminfo.patch
# The patch's own test of its effect (its Check: line).
effect=$(sed -n 's/^Check: //p' "$patch")
effect_visible() { bash -c "$effect"; }
seconds_since() { echo $(( $(date +%s) - $1 )); }
wait_active() {
  local deadline=$(( $(date +%s) + $1 ))
  until [ "$(systemctl show -p ActiveState --value spliced.service)" = active ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "spliced.service not active $1 s after $2"
    sleep 0.2
  done
}

case "$GUEST_BOOT" in
1)
  # The prepared kernel tree the host made, where spliced's builder looks for it.
  bash "$SPLICED_SRC/test/guest/harness/kernel-trees.sh"
  say "Guest booted Debian's own kernel:"
  show uname -rv
  say "Installing spliced's Debian package with apt; Debian's nodejs comes with it (the guest's only apt source is a"
  say "local repository of the package and the Debian .debs it needs; the guest has no network):"
  started=$(date +%s)
  bash "$SPLICED_SRC/test/guest/harness/install-package.sh" "$GUEST_WORK/repo" "$(cut -d' ' -f1 "$GUEST_WORK/versions")" \
    > "$GUEST_WORK/apt.log" 2>&1 || { tail -20 "$GUEST_WORK/apt.log" > /dev/console; fail "apt-get install"; }
  wait_active 60 "apt-get install"
  say "(installed and started in $(seconds_since "$started") s)"
  show dpkg-query -W -f '${Package} ${Version} ${Status}\n' spliced nodejs
  show systemctl is-active spliced.service
  say "The running daemon is Debian's node: $(readlink -f "/proc/$(systemctl show -P MainPID spliced.service)/exe") $(node --version)"
  say "Before: /proc/meminfo's first line as the kernel prints it"
  show grep MemTotal /proc/meminfo
  effect_visible && fail "the patch's effect is there before the patch"
  say "Handing spliced the source patch: it compiles only the touched file before and after, diffs the objects,"
  say "checks the old code against the running kernel's memory, builds the livepatch module and applies it, without a reboot:"
  started=$(date +%s)
  show splicectl apply "$patch"
  say "(built and applied in $(seconds_since "$started") s, in an emulated machine without KVM)"
  show grep MemTotal /proc/meminfo
  effect_visible || fail "the patch's effect is not there after splicectl apply"
  show splicectl list
  show ls /sys/kernel/livepatch
  say "Rebooting: the splice is recorded on disk, and spliced reapplies it when the machine comes back."
  exit 99
  ;;
2)
  wait_active 120 boot
  say "Back up on the same kernel, $(cut -d' ' -f1 /proc/uptime) s after boot; spliced reapplied the splice before it reported ready:"
  show uname -rv
  show grep MemTotal /proc/meminfo
  effect_visible || fail "the patch's effect is not there after the reboot"
  show splicectl list
  show splicectl log --limit=3
  reapplied=$(splicectl log --json | jq --arg boot "$(cat /proc/sys/kernel/random/boot_id)" \
    '[.[] | select(.bootId == $boot and .kind == "reapplied-at-boot")] | length')
  [ "$reapplied" = 1 ] || fail "splicectl log has $reapplied reapplied-at-boot events for this boot, not 1"
  id=$(splicectl list --json | jq -r '.[0].id')
  say "Reverting it, still without a reboot:"
  show splicectl revert "$id"
  show grep MemTotal /proc/meminfo
  effect_visible && fail "the patch's effect is still there after splicectl revert"
  grep -q '^MemTotal:' /proc/meminfo || fail "MemTotal is not back after splicectl revert"
  show splicectl list
  ;;
*)
  fail "unexpected boot $GUEST_BOOT"
  ;;
esac
