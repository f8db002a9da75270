# Load from an unprivileged client, sourced by entry.sh in boot 1 (stack A, B live; spliced as installed, the real
# dbus-daemon and polkit): test/guest/flood/run.ts floods spliced from the user `tester` over the system bus (reads,
# bad arguments, descriptors where none belong or that cannot be read, a descriptor index the call does not carry,
# applies and reverts polkit refuses, callers that vanish mid-call: test/guest/flood/mix.ts), times List idle and during the flood, then while root applies C and reverts it (boot 1's
# apply and revert of C). Behaviour only, no timing is asserted: the figures go to the console, and
# bench/flood-guest.ts measures them with larger counts.
# shellcheck shell=bash

flood_report=$GUEST_WORK/flood.json
flood_calls=1500 # ≈ 25 s under TCG; the whole check adds ≈ 30–35 s to the suite (docs/testing.md, "Load")
flood_pid=$(systemctl show -p MainPID --value spliced.service)
flood_live=$(live_patches)
flood_history_seq=$("${BUS[@]}" --json=short call "${MGR[@]}" GetHistory su '' 1 | jq '.data[0][0][0] // 0')
flood_started=$(date +%s%N)
check "flood: the run completes" bash -c "'${HOST_NODE:-node}' '$SPLICED_SRC/dist/test/guest/flood/run.js' --pid '$flood_pid' --user tester \
  --calls $flood_calls --connections 4 --window 32 --abandoned 2 --idle-samples 100 \
  --apply '$C' --revert test_klp_atomic_replace > '$flood_report'"
echo "flood: the run took $(( ($(date +%s%N) - flood_started) / 1000000 )) ms" > /dev/console
fr() { jq -r "$1" "$flood_report" 2>/dev/null; }

check_eq "flood: spliced is the same process" "$(systemctl show -p MainPID --value spliced.service)" "$flood_pid"
check_eq "flood: ... and alive" "$(fr .alive)" true
check_eq "flood: every call was answered" "$(fr '.rounds[0].flood | "\(.calls) \(.unanswered) \(.replies + ([.errors[]] | add))"')" "$flood_calls 0 $flood_calls"
check_eq "flood: each with the answer it should get (a reply or its named error)" "$(fr '.rounds[0].flood.mismatches')" "{}"
check_eq "flood: polkit refused the unprivileged applies and reverts" \
  "$(fr '.rounds[0].flood.errors["org.spliced.Spliced1.Error.PermissionDenied"] > 0')" true
check "flood: the daemon's fd count came back to its idle value" \
  test "$(fr '.rounds[0].daemon | if .settleMs >= 0 and .afterFlood.fds <= .before.fds then 0 else 1 end')" = 0
check_eq "flood: root's apply of C during List sampling succeeded, and its revert" "$(fr '.rounds[0].apply | "\(.applyExit) \(.revertExit)"')" "0 0"
check "flood: List was answered while the daemon was busy applying" test "$(fr '.rounds[0].apply.samplesWhileBusy')" -gt 0
check "flood: ... and the fd count came back after the apply" \
  test "$(fr '.rounds[0].daemon | if .afterApply.fds != null and .afterApply.fds <= .before.fds then 0 else 1 end')" = 0
check_eq "flood: the live stack is unchanged" "$(live_patches)" "$flood_live"
check_consistent "after the flood"
flood_events=$("${BUS[@]}" --json=short call "${MGR[@]}" GetHistory su '' 1000 |
  jq -c --argjson seq "${flood_history_seq:-0}" '[.data[0][] | select(.[0] > $seq) | [.[2], .[4], (.[8] | sub(" via .*"; ""))]]')
check_eq "flood: the history gained only root's apply and revert of C" "$flood_events" \
  '[["reverted","test_klp_atomic_replace","uid 0"],["applied","test_klp_atomic_replace","uid 0"]]'
check_eq "flood: no job is left" "$("${BUS[@]}" call "${MGR[@]}" GetJobs)" "ao 0"
fr '.rounds[0] | "flood: \(.flood.calls) calls in \(.flood.ms) ms (\(.flood.callsPerSecond)/s); List p50/p99 ms: idle \(.latency.idle.p50)/\(.latency.idle.p99), flood \(.latency.flood.p50)/\(.latency.flood.p99), apply \(.latency.apply.p50)/\(.latency.apply.p99) (\(.apply.samplesWhileBusy) samples); fds before/peak/after \(.daemon.before.fds)/\(.daemon.peak.fds)/\(.daemon.afterFlood.fds); RSS kB \(.daemon.before.rssKb)/\(.daemon.peak.rssKb)/\(.daemon.afterFlood.rssKb)"' > /dev/console
