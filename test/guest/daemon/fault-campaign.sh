# The kill -9 fault campaign, sourced by entry.sh at the end of boot 4 (spliced running, a stack applied): for each
# named point between two durable writes (src/fault-point.ts), spliced is restarted armed with SPLICED_FAULT_AT=<point>
# (arm and after_fault: harness/spliced-checks.sh), the operation that reaches the point is started, spliced SIGKILLs
# itself there and systemd's Restart= brings it back unarmed. Then sysfs, the database and the drop directory must
# agree: what is recorded as applied is exactly what is live, no patch twice, nothing left in incoming/, no transition
# left open. (build-done needs a kernel tree: the guest-build suite's daemon-checks.sh.) Last, a full
# /var/lib/spliced (a small loop-mounted ext4) during an apply and a drop: a named error, nothing lost, spliced alive.
# shellcheck shell=bash

campaign_started=$(date +%s)
stack=$fx/stack

arm store-module-written
drop "$stack/spliced_lp_stack_02.ko" 02.ko
after_fault store-module-written
check "fault store-module-written: the dropped module was applied after the restart" test -d /sys/kernel/livepatch/spliced_lp_stack_02
check_eq "fault store-module-written: no temporary copy left in modules/" "$(ls /var/lib/spliced/modules | grep -c '\.tmp-')" 0

arm apply-intent
timeout 120 splicectl apply "$stack/spliced_lp_stack_03.ko" > /dev/null 2>&1 &
after_fault apply-intent

arm apply-loaded
timeout 120 splicectl apply "$stack/spliced_lp_stack_04.ko" > /dev/null 2>&1 &
after_fault apply-loaded
check "fault apply-loaded: the module the kernel loaded is recorded as applied" test -d /sys/kernel/livepatch/spliced_lp_stack_04

arm apply-recorded
drop "$stack/spliced_lp_stack_05.ko" 05.ko
after_fault apply-recorded
check "fault apply-recorded: the dropped module is applied, once" test -d /sys/kernel/livepatch/spliced_lp_stack_05
check_eq "fault apply-recorded: ... and not applied again at restart" \
  "$(splicectl log --json | jq '[.[] | select(.kind == "applied" and .patchName == "spliced_lp_stack_05")] | length')" 1

arm revert-intent
timeout 120 splicectl revert "$(list_json | top_of id)" > /dev/null 2>&1 &
after_fault revert-intent

arm revert-done
listed=$(list_json)
top=$(top_of name <<< "$listed")
timeout 120 splicectl revert "$(top_of id <<< "$listed")" > /dev/null 2>&1 &
after_fault revert-done
check_eq "fault revert-done: the patch the kernel reverted ($top) is recorded as not applied" \
  "$(list_json | jq --arg n "$top" '[.[] | select(.name == $n and .state == "applied")] | length')" 0

arm quarantine-reason-written
printf 'not a module\n' > "$incoming/.junk.ko" && mv "$incoming/.junk.ko" "$incoming/junk.ko"
after_fault quarantine-reason-written
check_eq "fault quarantine-reason-written: the file is in quarantine once" "$(ls "$quarantine" | grep -c '^junk.*\.ko$')" 1

echo "fault campaign: $(( $(date +%s) - campaign_started )) s for 7 points" > /dev/console

# --- a full /var/lib/spliced: a 32 MiB ext4 image mounted over it (a copy of the state), filled to the last block ---
full_started=$(date +%s)
state=/var/lib/spliced
check "disk full: stop spliced" systemctl stop spliced.service
truncate -s 32M /root/state.img && mkfs.ext4 -q -F /root/state.img
mkdir -p /root/state-copy && mount -o loop /root/state.img /root/state-copy && cp -a "$state/." /root/state-copy/ && umount /root/state-copy
check "disk full: a small file system mounted over $state" mount -o loop /root/state.img "$state"
check "disk full: spliced starts on it" systemctl start spliced.service
before=$(recorded_applied)
restarts=$(systemctl show -p NRestarts --value spliced.service)
# Made on the same file system before it fills: a rename into incoming/ needs no free block.
cp "$stack/spliced_lp_stack_07.ko" "$state/.waiting.ko"
dd if=/dev/zero of="$state/filler" bs=64K status=none 2>/dev/null
check_fails "disk full: not a block left" dd if=/dev/zero of="$state/more" bs=4K count=1 status=none
out=$(timeout 120 splicectl apply "$stack/spliced_lp_stack_06.ko" 2>&1); rc=$?
check_fails "disk full: splicectl apply fails" test "$rc" = 0
check_match "disk full: ... with a named error: NoSpace" "$out" '\(NoSpace\)$'
check_match "disk full: ... that says the disk is full" "$out" 'ENOSPC|[Nn]o space left|disk is full'
check "disk full: spliced answers after the apply" splicectl list
check_eq "disk full: nothing new is applied" "$(recorded_applied)" "$before"
check_consistent "disk full (apply)"
mv "$state/.waiting.ko" "$incoming/07.ko"
sleep 5
check "disk full: the dropped file is kept in incoming/ (not lost)" test -f "$incoming/07.ko"
check "disk full: spliced answers after the drop" splicectl list
check_eq "disk full: spliced never died (no restart)" "$(systemctl show -p NRestarts --value spliced.service)" "$restarts"
check_consistent "disk full (drop)"
rm -f "$state/filler" "$state/more"
check "disk full: space back, spliced restarted" systemctl restart spliced.service
check "disk full: the kept file is applied once space is back" wait_until 120 incoming_empty
check "disk full: ... it is live" bash -c "test -d /sys/kernel/livepatch/spliced_lp_stack_07 ||
  { ls -la $quarantine; cat $quarantine/*.reason.json; journalctl -b -u spliced.service -n 25 -o cat; exit 1; }"
check_consistent "disk full (space back)"
check "disk full: revert it" splicectl revert "$(list_json | top_of id)"
check "disk full: stop spliced" systemctl stop spliced.service
check "disk full: the real $state back" umount "$state"
check "disk full: spliced starts on it" systemctl start spliced.service
check_consistent "disk full (after)"
echo "disk full: $(( $(date +%s) - full_started )) s" > /dev/console
