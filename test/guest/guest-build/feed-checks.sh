# The distro feed with a real apt, on the older kernel (6.1.0-55, Debian 6.1.192-1): the host made a signed flat
# repository with the real linux-source-6.1 debs of 6.1.192-1 and 6.1.192-2 (harness/feed-repo.ts) and a seed of
# the feed cache (debs, manifests, the plan: no tarball is decompressed under TCG), copied here into the real feed
# cache as root, as an older spliced kept it. apt sees only that repository. policy off and notify apply nothing,
# and a pin at the running version offers nothing; then with auto, `apt-get update` alone (its hook, packaging/apt/50spliced) makes spliced plan (a job in
# spliced-build@<id>.service, as spliced-build, who is handed the cache), build Debian's ext4 fix and apply it;
# a second `apt-get update` during that build is queued, not doubled. The daemon has no network of its own, and its
# apt calls have a TMPDIR. Sourced by entry.sh on the second boot, with the kernel trees mounted. FEED_* come from
# guest-build.env.
# shellcheck shell=bash

source "$SPLICED_SRC/test/guest/guest-build/feed-common.sh"
repo_mount feed-repo

mkdir -p /etc/apt/keyrings /root/apt-sources-saved
mv /etc/apt/sources.list /etc/apt/sources.list.d/* /root/apt-sources-saved/ 2>/dev/null
cp "$GUEST_WORK/feed-repo/spliced-test.gpg" /etc/apt/keyrings/
cp "$SPLICED_SRC/packaging/apt/50spliced" /etc/apt/apt.conf.d/50spliced
follow_feed_journal "$GUEST_WORK/feed-journal.txt"
# The busiest processes every 30 s: what a stalled job is doing (a handover shows as "(sh)" or chown).
(while sleep 30; do echo "== $(cut -d' ' -f1 /proc/uptime)"; ps -eo pid,user,pcpu,etime,args --sort=-pcpu | head -6; done) \
  > "$GUEST_WORK/feed-ps.txt" 2>&1 &
ps_sampler=$!
started=$(date +%s)
phase() { echo "feed: $1 at $(( $(date +%s) - started )) s" >> "$timings"; }
feed_cache=/var/cache/spliced/feed
rm -rf "$feed_cache"
cp -r "$GUEST_WORK/feed-cache" "$feed_cache"
phase "feed cache seeded as root"

# --- off: not even apt is asked ---
repo_on
policy off
check "feed: apt-get update with the test repository" apt-get update -q
check_match "feed: apt sees the target version" "$(apt-cache madison linux-source-6.1)" "$FEED_TARGET"
sleep 3
check_eq "feed: policy off: FeedPolicy" "$(prop FeedPolicy)" off
check_eq "feed: policy off: nothing offered" "$(prop FeedOffered)" ""
check_eq "feed: policy off: nothing applied" "$(feed_patches)" 0

# --- notify: offers, announces, builds nothing ---
phase "off checked"
policy notify
check "feed: policy notify: the start-up refresh offers the target" wait_until 120 offered_is "$FEED_TARGET"
check_match "feed: policy notify: FeedPending says nothing is built" "$(prop FeedPending)" 'feed_policy notify'
check_eq "feed: policy notify: nothing applied" "$(feed_patches)" 0
check_eq "feed: policy notify: no plan was made" "$(journalctl -u spliced -b -o cat | grep -c 'feed splice for')" 0
plan_line="spliced build-worker (uid $(id -u spliced-build)): the distro feed's plan for $(uname -r)"
check_eq "feed: policy notify: no plan job ran" "$(journalctl -b -u 'spliced-build@*' -o cat | grep -cF "$plan_line")" 0

# --- a pin at the running version: nothing newer is offered ---
phase "notify checked"
running_version=$(prop EffectiveVersion)
printf 'feed_policy = notify\nfeed_pin_version = %s\n' "$running_version" > /etc/spliced/spliced.conf
systemctl restart spliced.service
looked() { [ "$(prop FeedLastRefresh)" != 0 ]; }
check "feed: pinned: the start-up refresh ends (FeedLastRefresh)" wait_until 120 looked
check_eq "feed: pinned: FeedPinVersion" "$(prop FeedPinVersion)" "$running_version"
check_eq "feed: pinned: nothing newer than the pin is offered" "$(prop FeedOffered)" ""

# --- auto: apt-get update alone brings the fix ---
phase "pin checked"
repo_off
apt-get update -q > /dev/null 2>&1
policy auto
check "feed: policy auto: nothing offered before the repository returns" wait_until 120 offered_is ""
repo_on
t0=$(date +%s%N)
check "feed: policy auto: apt-get update (its hook asks spliced to refresh)" apt-get update -q
check "feed: the hook's refresh starts a build" wait_until 300 feed_state_is building
check "feed: apt-get update during the build" apt-get update -q
check_match "feed: that refresh is queued, not doubled" "$(journalctl -u spliced -b -o cat | grep 'feed refresh requested' | tail -3)" ': (queued|joined|covered)'
check "feed: the fix becomes live: EffectiveVersion reaches the target" wait_until 600 effective_is "$FEED_TARGET"
t1=$(date +%s%N)
echo "feed: time to protection from apt-get update finishing (warm tree, guest under TCG): $(( (t1 - t0) / 1000000 )) ms" | tee -a "$timings" > /dev/console
id=$(splicectl list --json | jq -r '[.[] | select(.state == "applied")] | last | .id')
check_eq "feed: the splice's origin is feed" "$(splicectl show "$id" --json | jq -r .origin)" feed
check_eq "feed: it declares the target version" "$(splicectl show "$id" --json | jq -r .version)" "$FEED_TARGET"
name=$(splicectl show "$id" --json | jq -r .name)
check "feed: the ext4 object is patched" test "$(cat "/sys/kernel/livepatch/$name/ext4/patched" 2>&1)" = 1
check_eq "feed: RebootRequired false" "$(prop RebootRequired)" false
check_eq "feed: one feed build for two apt updates" "$(journalctl -u spliced -b -o cat | grep -c 'feed splice for')" 1
check_match "feed: splicectl status shows the feed" "$(splicectl status)" "Distro feed: +policy auto; $FEED_TARGET offered"
check "feed: the plan ran as a build worker job in spliced-build@<id>.service, as spliced-build" \
  grep -qF "$plan_line" <<< "$(journalctl -b -u 'spliced-build@*' -o cat)"
check_eq "feed: the feed cache a root spliced left was handed to spliced-build" \
  "$(stat -c %U "$feed_cache" "$feed_cache/sources/$FEED_TARGET/"plan-*.json | sort -u)" spliced-build
daemon_pid=$(systemctl show -p MainPID --value spliced.service)
check "feed: spliced has no network of its own (a network namespace apart from PID 1's)" \
  test "$(readlink "/proc/$daemon_pid/ns/net")" != "$(readlink /proc/1/ns/net)"
check_eq "feed: systemd shows spliced.service without network (PrivateNetwork, RestrictAddressFamilies)" \
  "$(systemctl show -p PrivateNetwork -p RestrictAddressFamilies spliced.service | sort | tr '\n' ' ')" \
  "PrivateNetwork=yes RestrictAddressFamilies=AF_UNIX "
check_eq "feed: spliced's own apt calls never lacked a writable TMPDIR (mkstemp)" \
  "$(journalctl -u spliced -b -o cat | grep -c 'mkstemp')" 0
echo "feed checks: $(( $(date +%s) - started )) s in all" | tee -a "$timings" > /dev/console
stop_feed_journal
kill "$ps_sampler"
