#!/bin/bash
# The demo, inside the guest: spliced installed like a package, the splice built on the host applied live to Debian's
# running kernel, its effect shown, then reverted. Lines for the audience start with "demo| ".
set -euo pipefail
say() { echo "demo| $*" > /dev/console; }
show() { say "\$ $*"; "$@" 2>&1 | sed 's/^/demo|   /' > /dev/console; }
bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install" >/dev/null 2>&1
systemctl start spliced.service
say "Guest booted Debian's own kernel; spliced.service is running."
show uname -rv
show grep MemTotal /proc/meminfo
say "Applying the splice built from the patch, without a reboot:"
show splicectl apply "$GUEST_WORK/demo.ko"
show grep MemTotal /proc/meminfo
show splicectl list
show splicectl uname -r
show ls /sys/kernel/livepatch
id=$(splicectl list --json | jq -r '.[0].id')
say "Reverting it, still without a reboot:"
show splicectl revert "$id"
show grep MemTotal /proc/meminfo
grep -q '^MemTotal:' /proc/meminfo
