#!/bin/bash
# In-guest half of bench/flood-guest.ts: spliced installed, a stack of 10 patches (List returns 10 rows), then the
# flood of test/guest/flood/run.ts in rounds from the unprivileged user tester, root applying and reverting one more
# fixture livepatch in each round while List is timed (as the sampler user: root unless the bench says otherwise). The
# report goes to $GUEST_WORK/flood.json.
set -euo pipefail
bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install"
systemctl start spliced.service
for module in "$GUEST_WORK"/fixtures/stack/*.ko; do splicectl apply "$module" >/dev/null; done
sleep 5 # idle: the applies' garbage collected, no job running
read -r calls rounds sampler < "$GUEST_WORK/counts.txt"
node "$SPLICED_SRC/dist/test/guest/flood/run.js" --pid "$(systemctl show -p MainPID --value spliced.service)" --user tester \
  --sampler-user "$sampler" \
  --calls "$calls" --rounds "$rounds" --connections 4 --window 32 --abandoned 2 --idle-samples 300 \
  --apply "$GUEST_WORK/fixtures/klp/test_klp_atomic_replace.ko" --revert test_klp_atomic_replace > "$GUEST_WORK/flood.json"
