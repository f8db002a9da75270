# What the feed's guest checks share (feed-checks.sh on the second boot, feed-boot3-checks.sh on the third): spliced's
# properties as busctl shows them, the test repository's sources entry and where it is mounted. Sourced.
# shellcheck shell=bash

prop() { busctl get-property org.spliced.Spliced1 /org/spliced/Spliced1 org.spliced.Spliced1.Manager "$1" | cut -d' ' -f2- | tr -d '"'; }
feed_patches() { splicectl list --json | jq '[.[] | select(.state == "applied")] | length'; }
policy() {
  printf 'feed_policy = %s\n' "$1" > /etc/spliced/spliced.conf
  systemctl restart spliced.service
}
# apt's lists hold a symbolic link to a file: repository's uncompressed Packages, so every reader of apt's view needs
# to reach the repository, as it would reach an http mirror's lists: the plan job (spliced-build) could not enter
# $GUEST_WORK (the host's 0700 run directory over 9p) and saw no newer version ("newer: none"). Mounted where all can.
# repo_mount NAME: the host's repository $GUEST_WORK/NAME is the one at $repo (feed-repo, or feed-repo-next: the same
# repository with the test's own version added).
repo=/srv/spliced-test-repo
repo_mount() {
  mkdir -p "$repo"
  if mountpoint -q "$repo"; then umount "$repo"; fi
  mount --bind "$GUEST_WORK/$1" "$repo"
}
repo_on() { echo "deb [signed-by=/etc/apt/keyrings/spliced-test.gpg] file:$repo ./" > /etc/apt/sources.list.d/spliced-test.list; }
repo_off() { rm -f /etc/apt/sources.list.d/spliced-test.list; }
feed_state_is() { [ "$(prop FeedState)" = "$1" ]; }
effective_is() { [ "$(prop EffectiveVersion)" = "$1" ]; }
offered_is() { [ "$(prop FeedOffered)" = "$1" ]; }
# The journal follower of the feed's checks: the daemon's and its jobs' lines, with seconds since boot, written as it
# happens (a job that hangs leaves its trace on the host too). The whole journal is followed: `-u 'spliced-build@*'`
# only matches units already in it. follow_feed_journal FILE starts it, stop_feed_journal ends it. No process of it
# keeps the entry's output open: guest-runner waits for every writer of that pipe before it powers off (seen: the
# first grep, whose stderr it was, outlived the kill of the last one until a journal line came, which none did).
follow_feed_journal() {
  (journalctl -f -o short-monotonic 2>&1 | grep --line-buffered spliced \
    | grep --line-buffered -E 'feed|plan|build-worker|splice built|patch applied|building|Started|Finished|Failed|mkstemp|chown|livepatch' \
    > "$1") > /dev/null 2>&1 < /dev/null &
  journal_follower=$!
}
stop_feed_journal() {
  pkill -P "$journal_follower"
  wait "$journal_follower" 2>/dev/null
}
