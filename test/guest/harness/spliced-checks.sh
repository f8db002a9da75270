# spliced's state in a guest, for the suites that run the daemon (daemon, guest-build): its record against sysfs, the
# drop directory, and the kill -9 fault points (src/fault-point.ts, docs/testing.md). Sourced after checks.sh; the
# sourcing script defines recorded_applied (the applied patches' names as the daemon lists them, applied_names' shape).
# shellcheck shell=bash

incoming=/var/lib/spliced/incoming
quarantine=/var/lib/spliced/quarantine
live_patches() { ls /sys/kernel/livepatch 2>/dev/null | sort | tr '\n' ' '; }
# The applied patches' names in `splicectl list --json` (stdin), as live_patches prints sysfs'.
applied_names() { jq -r '.[] | select(.state == "applied") | .name' | sort | tr '\n' ' '; }
spliced_ready() { [ "$(systemctl show -p ActiveState --value spliced.service)" = active ]; }
# Agreement of the recorded stack with the kernel: what the daemon says is applied is exactly what sysfs shows.
# check_consistent NAME [APPLIED]: APPLIED (applied_names of a list already read) saves reading the record again.
check_consistent() { check_eq "$1: recorded applied patches equal live sysfs" "${2-$(recorded_applied)}" "$(live_patches)"; }
incoming_empty() { [ -z "$(ls -A "$incoming")" ]; }
# drop FILE NAME: into incoming/ as the drop directory expects it (written under a dot name, renamed).
drop() { cp "$1" "$incoming/.$2" && mv "$incoming/.$2" "$incoming/$2"; }

# --- fault points: spliced started armed with SPLICED_FAULT_AT=<point> (a runtime drop-in of the unit: only root can
# set it) SIGKILLs itself there; the drop-in is removed while systemd waits to restart it (its RestartSec=5s), and
# systemd's Restart= brings it back unarmed ---
fault_dropin=/run/systemd/system/spliced.service.d/fault.conf
waiting_to_restart() { [ "$(systemctl show -p SubState --value spliced.service)" = auto-restart ]; }
no_open_transition() { ! grep -qs 1 /sys/kernel/livepatch/*/transition; }

# arm_next_start POINT: the next start of spliced (a restart, or Restart= after a kill) is armed at POINT.
arm_next_start() {
  mkdir -p "${fault_dropin%/*}"
  printf '[Service]\nEnvironment=SPLICED_FAULT_AT=%s\nRestartSec=5s\n' "$1" > "$fault_dropin"
  systemctl daemon-reload
}

# arm POINT: spliced restarted armed at POINT now.
arm() {
  arm_next_start "$1"
  check "fault $1: spliced restarted armed" systemctl restart spliced.service
  pid_armed=$(systemctl show -p MainPID --value spliced.service)
}

# after_fault POINT [SECONDS]: the armed spliced (MainPID $pid_armed) killed itself at POINT, systemd restarted it
# unarmed, what was interrupted was finished, and everything agrees. SECONDS (120 by default) bounds the wait for the
# kill and for the restarted spliced to finish the work: a build takes minutes under TCG.
after_fault() {
  local seconds=${2:-120}
  check "fault $1: spliced killed itself there" wait_until "$seconds" waiting_to_restart
  check_match "fault $1: ... by SIGKILL" "$(systemctl show -p ExecMainStatus --value spliced.service)" '^9$'
  rm -f "$fault_dropin"
  systemctl daemon-reload
  check "fault $1: systemd restarted spliced (Restart=)" wait_until 60 spliced_ready
  check_fails "fault $1: a new process" test "$(systemctl show -p MainPID --value spliced.service)" = "$pid_armed"
  check "fault $1: no transition left open" wait_until "$seconds" no_open_transition
  check "fault $1: nothing left in incoming/" wait_until "$seconds" incoming_empty
  # One list for the three checks (each splicectl start takes seconds under TCG on Debian's node).
  local listed listed_status=0
  listed=$(splicectl list --json 2>&1) || listed_status=$?
  check_eq "fault $1: spliced answers (splicectl list exits 0)" "$listed_status" 0
  check_consistent "fault $1" "$(applied_names <<< "$listed")"
  check_eq "fault $1: no patch recorded twice" "$(jq -r '.[].name' <<< "$listed" | sort | uniq -d)" ""
  wait # the splicectl that started the operation, if any (in the background: the drop-in must go within RestartSec)
}
