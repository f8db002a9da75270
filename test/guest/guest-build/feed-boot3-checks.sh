# The distro feed on the third boot (the older kernel again), after feed-checks.sh made FEED_TARGET live on the
# second. (1) At boot spliced reapplied the feed splice, in one livepatch transition (the kernel's "starting patching
# transition" lines of this boot). (2) The test's own version FEED_TEST_VERSION (harness/feed-test-source.ts:
# Debian's FEED_TARGET deb plus fixture 01, which can be spliced, and fixture 15, a change to arch/x86 assembly, which
# cannot) joins the repository: `apt-get update` alone makes spliced build the cumulative splice of what it can
# (Debian's ext4 fix and fixture 01) and apply it, while RebootRequired and RebootReasons say the assembly fix still
# needs a reboot (its changelog line, CVE and reason) and EffectiveVersion stays FEED_TARGET. The test version's
# feed cache entry (deb, manifest, plan) is seeded from the host, as the others were. Sourced by entry.sh; FEED_*
# come from guest-build.env.
# shellcheck shell=bash

source "$SPLICED_SRC/test/guest/guest-build/feed-common.sh"
started=$(date +%s)
phase() { echo "feed boot 3: $1 at $(( $(date +%s) - started )) s" >> "$timings"; }
follow_feed_journal "$GUEST_WORK/feed-journal-boot3.txt"
reasons() { busctl --json=short get-property org.spliced.Spliced1 /org/spliced/Spliced1 org.spliced.Spliced1.Manager RebootReasons | jq -r '.data[]'; }
feed_splice_of() { # VERSION-or-null: the id of the applied feed splice declaring it
  splicectl list --json | jq -r --argjson v "$1" '[.[] | select(.state == "applied" and .origin == "feed" and .version == $v)] | last | .id'
}

# --- (1) the feed splice is reapplied at boot, in one transition ---
check "feed after reboot: spliced.service is active" wait_until 120 systemctl is-active -q spliced.service
check "feed after reboot: EffectiveVersion is the feed's target" wait_until 60 effective_is "$FEED_TARGET"
unit_time() { systemctl show -p "$1" --value spliced.service; }
echo "feed after reboot: spliced.service from its start to active (READY=1): $(( ($(unit_time ActiveEnterTimestampMonotonic) - $(unit_time ExecMainStartTimestampMonotonic)) / 1000 )) ms" \
  | tee -a "$timings" > /dev/console
name=$(splicectl show "$(feed_splice_of "\"$FEED_TARGET\"")" --json | jq -r .name)
check_eq "feed after reboot: the feed splice is enabled in sysfs" "$(cat "/sys/kernel/livepatch/$name/enabled" 2>&1)" 1
check_eq "feed after reboot: the ext4 object is patched" "$(cat "/sys/kernel/livepatch/$name/ext4/patched" 2>&1)" 1
check_eq "feed after reboot: RebootRequired false" "$(prop RebootRequired)" false
transitions=$(journalctl -k -b -o cat | grep -E "^livepatch: '[^']+': starting (un)?patching transition")
echo "feed after reboot: $(grep -c . <<< "$transitions") livepatch transition(s) this boot: $(tr '\n' ' ' <<< "$transitions")" | tee -a "$timings" > /dev/console
check_eq "feed after reboot: one livepatch transition this boot, the feed splice's" "$transitions" "livepatch: '$name': starting patching transition"
phase "reapply checked"

# --- (2) a version whose delta holds a fix that cannot be spliced ---
effect=$(sed -n 's/^Check: //p' "$FEED_TEST_SPLICED_PATCH" | head -1)
check_fails "feed test version: its spliceable fix is not live before" bash -c "$effect"
post_objects() { find "/var/cache/spliced/trees/$OLDER_OWN_TREE/post-objects" -name '*.o' 2>/dev/null | wc -l; }
post_objects_before=$(post_objects)
cp -r "$GUEST_WORK/feed-cache-next/sources/$FEED_TEST_VERSION" /var/cache/spliced/feed/sources/
# Seeded as the build unit would have written it (the handover only visits a cache whose top directory is root's).
chown -R spliced-build: "/var/cache/spliced/feed/sources/$FEED_TEST_VERSION"
repo_mount feed-repo-next
t0=$(date +%s%N)
check "feed test version: apt-get update (its hook asks spliced to refresh)" apt-get update -q
# The version holds + and ., which are ERE operators: matched as written.
test_version_re=$(sed 's/[.+]/\\&/g' <<< "$FEED_TEST_VERSION")
check_match "feed test version: apt sees it" "$(apt-cache madison linux-source-6.1)" " $test_version_re "
check "feed test version: it is offered" wait_until 120 offered_is "$FEED_TEST_VERSION"
built() { journalctl -u spliced -b -o cat | grep -qF "feed splice for $FEED_TEST_VERSION"; }
check "feed test version: a feed splice is built" wait_until 1200 built
check "feed test version: the feed is idle again (built and applied)" wait_until 300 feed_state_is idle
echo "feed test version: from apt-get update starting to the splice applied: $(( ($(date +%s%N) - t0) / 1000000 )) ms; FeedLastError: $(prop FeedLastError)" | tee -a "$timings" > /dev/console
journalctl -u spliced -b -o cat | grep -F "feed splice for $FEED_TEST_VERSION" >> "$timings"
check_eq "feed test version: RebootRequired true" "$(prop RebootRequired)" true
reboot_reasons=$(reasons)
echo "feed test version: RebootReasons: $reboot_reasons" | tee -a "$timings" > /dev/console
check_match "feed test version: RebootReasons names the refused fix's changelog line and CVE" "$reboot_reasons" \
  "^Debian $test_version_re \"x86: comment memcpy .*\" \\($FEED_TEST_REFUSED_CVE\\): arch/x86/lib/memcpy_64\\.S cannot be spliced"
check_match "feed test version: ... and why (UnsafePatch: assembly)" "$reboot_reasons" \
  'cannot be spliced \(UnsafePatch: the patch changes the assembly file arch/x86/lib/memcpy_64\.S; assembly cannot be spliced'
check_fails "feed test version: RebootReasons does not name the spliced fix" grep -qF "$FEED_TEST_SPLICED_CVE" <<< "$reboot_reasons"
check_eq "feed test version: EffectiveVersion stays at Debian's target" "$(prop EffectiveVersion)" "$FEED_TARGET"
check "feed test version: its spliceable fix is live" bash -c "$effect"
# The cumulative splice carries Debian's ext4 fix again: its patched mballoc.o is the one the feed splice of the
# second boot compiled (same patched sources), so the build compiled only meminfo.o.
check_eq "feed test version: only the new fix's object was compiled (mballoc.o taken from the last feed build)" \
  "$(( $(post_objects) - post_objects_before ))" 1
id=$(feed_splice_of null)
check_eq "feed test version: the new feed splice declares no version and only the live fix's CVE" \
  "$(splicectl show "$id" --json | jq -c '[.origin, .version, .cves]')" "[\"feed\",null,[\"$FEED_TEST_SPLICED_CVE\"]]"
test_name=$(splicectl show "$id" --json | jq -r .name)
check_eq "feed test version: it patches ext4 and vmlinux (the cumulative splice)" \
  "$(cat "/sys/kernel/livepatch/$test_name/ext4/patched" "/sys/kernel/livepatch/$test_name/vmlinux/patched" 2>&1 | tr '\n' ' ')" "1 1 "
check_eq "feed test version: the complete splice of $FEED_TARGET stays applied below it" "$(cat "/sys/kernel/livepatch/$name/enabled" 2>&1)" 1
status=$(splicectl status --json)
check_eq "feed test version: splicectl status --json says the same" \
  "$(jq -c '[.rebootRequired, .effectiveVersion, .feed.offered, (.rebootReasons | join("\n"))]' <<< "$status")" \
  "$(jq -cn --arg r "$reboot_reasons" --arg e "$FEED_TARGET" --arg o "$FEED_TEST_VERSION" '[true, $e, $o, $r]')"
echo "feed boot 3: $(( $(date +%s) - started )) s in all" | tee -a "$timings" > /dev/console
stop_feed_journal
