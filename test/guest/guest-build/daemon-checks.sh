# Source patches through the daemon, as an admin and automation would hand them over: `splicectl apply PATCH` (D-Bus
# Apply: a build job with progress, then the apply), files dropped into /var/lib/spliced/incoming/ (applied and
# removed; bad ones quarantined with their reason) while the daemon is killed in the middle of their build (the files
# are taken again at restart) and then at the fault point build-done, and bad inputs at the doors (a symlink and a FIFO dropped, Apply of a device path). Sourced by entry.sh on the first boot, with spliced.service running and the kernel tree in place.
# shellcheck shell=bash

patches=$SPLICED_SRC/test/fixtures/patches
source "$SPLICED_SRC/test/guest/harness/spliced-checks.sh"
recorded_applied() { splicectl list --json | applied_names; }
# The name the builder gives a patch's module: spliced_<first 12 hex digits of the patch's sha256>.
module_name() { echo "spliced_$(sha256sum "$1" | cut -c1-12)"; }
is_applied() { splicectl list --json | jq -e --arg n "$1" 'any(.[]; .name == $n and .state == "applied")' > /dev/null; }
revert_named() { splicectl revert "$(splicectl list --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .id' | head -1)"; }

# --- splicectl apply of a source patch: one job, building then applying ---
logic=$patches/02-logic-uptime.patch
logic_check() { awk '{ exit !($1 > 100000000) }' /proc/uptime; }
check_fails "daemon: 02-logic-uptime effect absent before" logic_check
started=$(date +%s%N)
out=$(splicectl apply "$logic" 2>&1); rc=$?
echo "daemon build+apply of 02-logic-uptime: $(( ($(date +%s%N) - started) / 1000000 )) ms" > /dev/console
check_eq "daemon: splicectl apply PATCH succeeds" "$rc" 0
check_match "daemon: the job reported its build steps" "$out" '\] building: '
check_match "daemon: and then the apply" "$out" 'livepatch transition'
check "daemon: the patch's module is applied under its builder name" is_applied "$(module_name "$logic")"
check "daemon: 02-logic-uptime effect visible" logic_check
check "daemon: splicectl revert of the built patch" revert_named "$(module_name "$logic")"
check_fails "daemon: 02-logic-uptime effect gone" logic_check
check_eq "daemon: no build left behind in /var/lib/spliced/builds" "$(ls -A /var/lib/spliced/builds)" ""

# --- the drop directory, with the daemon killed in the middle of its build: the files stay and are taken at restart ---
newfn=$patches/03-new-function-version.patch
newfn_check() { grep -q '^spliced: new function$' /proc/version; }
# [r]: the pattern must not match the command line of the shell that runs it.
building() { pgrep -f 'spliced build-worke[r]' > /dev/null; }
drop "$newfn" 03-new-function.patch
printf 'not a patch\n' > "$incoming/notes.txt"
# A refusal the builder makes from the patch alone: no compile under TCG (NoChange cost one, ≈ 1 min).
drop "$patches/15-fail-assembly.patch" 15-fail-assembly.patch
check "daemon: a build worker runs for a dropped patch" wait_until 120 building
check_eq "daemon: the build runs as the unprivileged spliced-build user" \
  "$(ps -o user= -p "$(pgrep -f 'spliced build-worke[r]' | head -1)" | tr -d ' ')" spliced-build
check_match "daemon: in a unit of its own" "$(systemctl list-units --no-legend 'spliced-build@*')" 'spliced-build@[0-9a-f]{12}\.service'
check_eq "daemon: without capabilities" "$(grep '^CapEff' "/proc/$(pgrep -f 'spliced build-worke[r]' | head -1)/status" | awk '{print $2}')" 0000000000000000
# The fault point build-done (harness/spliced-checks.sh): the start after this kill is armed there. It builds the
# dropped patch again and kills itself once the module is written, before the module joins the kernel queue; the
# next start applies the module that build left, without building it again: nothing lost, nothing applied twice.
arm_next_start build-done
check "daemon: kill -9 of spliced (the main process) in the middle of the build" \
  systemctl kill --kill-whom=main --signal=KILL spliced.service
check "daemon: the build unit goes with it (BindsTo=spliced.service)" wait_until 30 bash -c "! pgrep -f 'spliced build-worke[r]'"
check "daemon: the dropped patch is still there" test -f "$incoming/03-new-function.patch"
check "daemon: systemd restarts spliced" wait_until 60 spliced_ready
pid_armed=$(systemctl show -p MainPID --value spliced.service)
armed_at=$(date +%s)
after_fault build-done 1200
echo "fault build-done: $(( $(date +%s) - armed_at )) s from the armed start to the drop directory emptied (one build)" | tee -a "$timings" > /dev/console
check_eq "fault build-done: the next start applied the module built before the kill, without building again" \
  "$(journalctl -b -u spliced.service --since "@$armed_at" -o cat | grep -c 'applied without building again')" 1
check "daemon: a dropped patch is built and applied" is_applied "$(module_name "$newfn")"
check_eq "fault build-done: the module the killed build wrote is gone from builds/" "$(ls -A /var/lib/spliced/builds)" ""
check "daemon: its effect is visible" newfn_check
check_eq "daemon: it came from the drop directory" "$(splicectl show --json "$(module_name "$newfn")" | jq -r .origin)" drop-dir
check_eq "daemon: its description is the patch's subject" \
  "$(splicectl show --json "$(module_name "$newfn")" | jq -r .description)" "$(sed -n 's/^Subject: //p' "$newfn" | head -1)"
check "daemon: notes.txt is kept in quarantine" test -f "$quarantine/notes.txt"
check_eq "daemon: with its reason" "$(jq -r .error.kind "$quarantine/notes.txt.reason.json")" InvalidArgument
check "daemon: the assembly patch is kept in quarantine" test -f "$quarantine/15-fail-assembly.patch"
check_eq "daemon: refused as UnsafePatch" "$(jq -r .error.kind "$quarantine/15-fail-assembly.patch.reason.json")" UnsafePatch
check "daemon: the history names the refused build" bash -c "splicectl log | grep -q UnsafePatch"
drop "$newfn" 03-again.patch
check "daemon: dropping an applied patch again just removes it" wait_until 60 incoming_empty
check_eq "daemon: ... without a second livepatch" "$(live_patches)" "$(module_name "$newfn") "
check_consistent "daemon"
check "daemon: revert what the drop directory applied" bash -c \
  "splicectl revert --down-to \"\$(splicectl list --json | jq -r '.[] | select(.state == \"applied\") | .id' | head -1)\""
check_eq "daemon: nothing left applied" "$(live_patches)" ""

# --- bad inputs at the doors: nothing is followed, nothing blocks, the daemon stays the same process ---
daemon_pid() { systemctl show -p MainPID --value spliced.service; }
pid_before=$(daemon_pid)
outside=$(mktemp -d)/elsewhere.patch
cp "$logic" "$outside"
ln -s "$outside" "$incoming/link.patch"
check "doors: a symbolic link dropped into incoming/ is quarantined" wait_until 60 test -L "$quarantine/link.patch"
check_eq "doors: ... as InvalidArgument (not followed)" "$(jq -r .error.kind "$quarantine/link.patch.reason.json")" InvalidArgument
check "doors: ... its target is untouched" test -f "$outside"
check_eq "doors: ... and nothing was applied" "$(live_patches)" ""
mkfifo -m 600 "$incoming/x.ko"
check "doors: a FIFO named x.ko is quarantined, not read" wait_until 60 test -p "$quarantine/x.ko"
# splicectl list exits 0 whenever the daemon answers (status would exit 2 here: nothing applied).
check "doors: spliced still answers" splicectl list
out=$(splicectl apply /proc/self/fd/../../../dev/zero 2>&1); rc=$?
check_eq "doors: splicectl apply /proc/self/fd/../../../dev/zero exits 64 (InvalidArgument)" "$rc" 64
check_match "doors: ... not a regular file" "$out" 'not a regular file \(a character device\)'
check_eq "doors: the daemon is the same process" "$(daemon_pid)" "$pid_before"
