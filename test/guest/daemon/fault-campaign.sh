# The kill -9 fault campaign, sourced by entry.sh at the end of boot 4 (spliced running, a stack applied): for each
# named point between two durable writes (src/fault-point.ts), spliced is restarted armed with SPLICED_FAULT_AT=<point>
# (a runtime drop-in of the unit: only root can set it), the operation that reaches the point is started, spliced
# SIGKILLs itself there, the drop-in is removed while systemd waits to restart it (RestartSec=5s of the drop-in), and
# systemd's Restart= brings it back. Then sysfs, the database and the drop directory must agree: what is recorded as
# applied is exactly what is live, no patch twice, nothing left in incoming/, no transition left open.
# shellcheck shell=bash

fault_dropin=/run/systemd/system/spliced.service.d/fault.conf
incoming=/var/lib/spliced/incoming
quarantine=/var/lib/spliced/quarantine
sub_state() { systemctl show -p SubState --value spliced.service; }
waiting_to_restart() { [ "$(sub_state)" = auto-restart ]; }
no_open_transition() { ! grep -qs 1 /sys/kernel/livepatch/*/transition; }
incoming_empty() { [ -z "$(ls -A "$incoming")" ]; }
top_id() { splicectl list --json | jq -r '[.[] | select(.state == "applied")] | max_by(.stackPosition) | .id'; }
drop() { cp "$1" "$incoming/.$2" && mv "$incoming/.$2" "$incoming/$2"; }

arm() {
  mkdir -p "${fault_dropin%/*}"
  printf '[Service]\nEnvironment=SPLICED_FAULT_AT=%s\nRestartSec=5s\n' "$1" > "$fault_dropin"
  systemctl daemon-reload
  check "fault $1: spliced restarted armed" systemctl restart spliced.service
  pid_armed=$(systemctl show -p MainPID --value spliced.service)
}

# after_fault POINT: the kill happened at POINT, systemd restarted spliced unarmed, and everything agrees.
after_fault() {
  check "fault $1: spliced killed itself there" wait_until 120 waiting_to_restart
  check_match "fault $1: ... by SIGKILL" "$(systemctl show -p ExecMainStatus --value spliced.service)" '^9$'
  rm -f "$fault_dropin"
  systemctl daemon-reload
  check "fault $1: systemd restarted spliced (Restart=)" wait_until 60 spliced_ready
  check_fails "fault $1: a new process" test "$(systemctl show -p MainPID --value spliced.service)" = "$pid_armed"
  check "fault $1: spliced answers" splicectl list
  check_consistent "fault $1"
  check_eq "fault $1: no patch recorded twice" "$(splicectl list --json | jq -r '.[].name' | sort | uniq -d)" ""
  check "fault $1: no transition left open" wait_until 60 no_open_transition
  check "fault $1: nothing left in incoming/" wait_until 60 incoming_empty
}

campaign_started=$(date +%s)
stack=$fx/stack

arm store-module-written
drop "$stack/spliced_lp_stack_02.ko" 02.ko
after_fault store-module-written
check "fault store-module-written: the dropped module was applied after the restart" test -d /sys/kernel/livepatch/spliced_lp_stack_02

arm apply-intent
timeout 120 splicectl apply "$stack/spliced_lp_stack_03.ko" > /dev/null 2>&1
after_fault apply-intent

arm apply-loaded
timeout 120 splicectl apply "$stack/spliced_lp_stack_04.ko" > /dev/null 2>&1
after_fault apply-loaded
check "fault apply-loaded: the module the kernel loaded is recorded as applied" test -d /sys/kernel/livepatch/spliced_lp_stack_04

arm apply-recorded
drop "$stack/spliced_lp_stack_05.ko" 05.ko
after_fault apply-recorded
check "fault apply-recorded: the dropped module is applied, once" test -d /sys/kernel/livepatch/spliced_lp_stack_05
check_eq "fault apply-recorded: ... and not applied again at restart" \
  "$(splicectl log --json | jq '[.[] | select(.kind == "applied" and .patchName == "spliced_lp_stack_05")] | length')" 1

arm revert-intent
timeout 120 splicectl revert "$(top_id)" > /dev/null 2>&1
after_fault revert-intent

arm revert-done
top=$(splicectl list --json | jq -r '[.[] | select(.state == "applied")] | max_by(.stackPosition) | .name')
timeout 120 splicectl revert "$(top_id)" > /dev/null 2>&1
after_fault revert-done
check "fault revert-done: the patch the kernel reverted ($top) is recorded as not applied" \
  bash -c "! splicectl list --json | jq -e --arg n '$top' 'any(.[]; .name == \$n and .state == \"applied\")'"

arm quarantine-reason-written
printf 'not a module\n' > "$incoming/.junk.ko" && mv "$incoming/.junk.ko" "$incoming/junk.ko"
after_fault quarantine-reason-written
check_eq "fault quarantine-reason-written: the file is in quarantine once" "$(ls "$quarantine" | grep -c '^junk.*\.ko$')" 1

echo "fault campaign: $(( $(date +%s) - campaign_started )) s for 7 points" > /dev/console
