#!/bin/bash
# In-guest half of bench/daemon-guest.ts: a stack of 10 patches, then List latency over D-Bus, idle RSS, and
# start → READY=1 of spliced at each following boot, where it reapplies the 10 patches. One JSON line per figure.
set -euo pipefail
out=$GUEST_WORK/bench.jsonl
boots=4
if [ "$GUEST_BOOT" = 1 ]; then
  bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install"
  systemctl start spliced.service
  for module in "$GUEST_WORK"/fixtures/stack/*.ko; do splicectl apply "$module" >/dev/null; done
  sleep 5 # idle: the applies' garbage collected, no job running
  pid=$(systemctl show -p MainPID --value spliced.service)
  echo "{\"figure\":\"idle-rss-kb\",\"value\":$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"),\"patches\":$(ls /sys/kernel/livepatch | wc -l)}" >> "$out"
  node "$SPLICED_SRC/dist/bench/daemon-list-latency.js" | sed 's/^{/{"figure":"list-ms",/' >> "$out"
  exit 99
fi
start=$(systemctl show -p ExecMainStartTimestampMonotonic --value spliced.service)
ready=$(systemctl show -p ActiveEnterTimestampMonotonic --value spliced.service)
echo "{\"figure\":\"start-to-ready-ms\",\"value\":$(( (ready - start) / 1000 )),\"reapplied\":$(ls /sys/kernel/livepatch | wc -l)}" >> "$out"
[ "$GUEST_BOOT" -lt "$boots" ] && exit 99
exit 0
