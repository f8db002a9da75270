#!/bin/bash
# The guest-build suite, inside the guest: splices built on the machine itself, as `spliced build` and the daemon do
# there, in copies of the host's prepared kernel trees (kernel-trees.sh), with run-pre checked against the live kernel.
# Boot 1 (the newer kernel): fixture 01 built, applied, its effect seen, reverted; then the daemon's checks
# (daemon-checks.sh, when present). Boot 2 (the older kernel): a patch against the newer kernel's source must be
# refused by run-pre; then the distro feed with a real apt (feed-checks.sh) and Debian's reboot flag
# (reboot-flag-checks.sh). Boot 3 (the older kernel again): the feed splice reapplied at boot in one transition, then
# a feed version with a fix that cannot be spliced (feed-boot3-checks.sh). guest-build.env (written by the host) names
# the patches, versions and expected function.
set -u
source "$SPLICED_SRC/test/guest/harness/checks.sh"
source "$GUEST_WORK/guest-build.env"
timings=$GUEST_WORK/timings.txt
check "the kernel trees are mounted" bash "$SPLICED_SRC/test/guest/harness/kernel-trees.sh"

# build NAME PATCH OUT [OPTIONS...]: `spliced build --json` as root; report in $GUEST_WORK/NAME.json, wall time in
# timings.txt; returns spliced build's exit status.
build() {
  local name=$1 patch=$2 out=$3 started rc; shift 3
  started=$(date +%s%N)
  spliced build "$@" "$patch" -o "$out" --json > "$GUEST_WORK/$name.json" 2> "$GUEST_WORK/$name.stderr"; rc=$?
  echo "$name: spliced build in the guest took $(( ($(date +%s%N) - started) / 1000000 )) ms (exit $rc)" | tee -a "$timings" > /dev/console
  return $rc
}
report() { jq -r "$2" "$GUEST_WORK/$1.json" 2>&1; }

case "$GUEST_BOOT" in
1)
  check "running the newer kernel" test "$(uname -r)" = "$NEWER_RELEASE"
  check "install spliced like a package" bash "$GUEST_WORK/install/install-spliced.sh" "$GUEST_WORK/install"
  check "spliced.service starts" systemctl start spliced.service
  # The host's cached unpatched object of the string patch's file goes (in the copy only): the guest's own gcc-12
  # compiles both sides of that build, so run-pre also proves that the image's compiler reproduces the running
  # kernel's code. The daemon's builds below may use the host's cached ones (their post side is compiled here).
  # Patched objects the host's builds cached go too, from every tree: every build here compiles its patched side,
  # but for what an earlier build in this guest compiled from the same sources (boot 3's cumulative splice).
  rm -f "/var/cache/spliced/trees/$NEWER_TREE/pre-objects/fs/proc/meminfo.o"
  rm -rf /var/cache/spliced/trees/*/post-objects
  check "spliced build of the string patch exits 0" build string "$STRING_PATCH" /tmp/string.ko
  check "the module is written" test -s /tmp/string.ko
  check_eq "run-pre checked every replaced function against the live kernel" "$(report string \
    '(.runPre | length > 0) and all(.runPre[]; .functions != "skipped")
     and ([.objects[].functions[]] - [.runPre[].functions[]] == [])')" true
  echo "string: run-pre checked $(report string '[.runPre[].functions] | flatten | join(" ")')" >> "$timings"
  check_eq "layouts judged against the live kernel's BTF" "$(report string '[.layoutCheck[].against] | unique | join(" ")')" /sys/kernel/btf/vmlinux
  effect=$(sed -n 's/^Check: //p' "$STRING_PATCH" | head -1)
  check_fails "effect absent before apply" bash -c "$effect"
  check "splicectl apply of the module built here" splicectl apply /tmp/string.ko
  check "effect visible in /proc/meminfo" bash -c "$effect"
  id=$(splicectl list --json | jq -r '[.[] | select(.state == "applied")] | max_by(.stackPosition) | .id')
  check "splicectl revert" splicectl revert "$id"
  check_fails "effect gone after revert" bash -c "$effect"
  if [ -f "$SPLICED_SRC/test/guest/guest-build/daemon-checks.sh" ]; then
    source "$SPLICED_SRC/test/guest/guest-build/daemon-checks.sh"
  fi
  # What the build units did (the handover before each job, the worker's line, systemd's own), for the host.
  journalctl -b -u 'spliced-build@*' -o short-monotonic --no-pager > "$GUEST_WORK/build-units-boot1.txt" 2>&1
  exit 99
  ;;
2)
  check "running the older kernel" test "$(uname -r)" = "$OLDER_RELEASE"
  check_fails "spliced build of the newer source for the older kernel fails" \
    build runpre "$RUN_PRE_PATCH" /tmp/runpre.ko --source-version "$NEWER_SOURCE"
  check_eq "refused by run-pre" "$(report runpre .error.kind)" RunPreMismatch
  check_match "the refusal names the function" "$(report runpre .error.message)" "\\b$RUN_PRE_FUNCTION\\b"
  check_fails "no module written" test -e /tmp/runpre.ko
  # The layout check's types of a loaded module: its split BTF in sysfs, read whole (a page per read) on vmlinux's.
  started=$(date +%s%N)
  check_eq "the live ext4 BTF is read from sysfs" "$(node -e 'require("/usr/lib/spliced/dist/src/build/kernel-types.js")
    .runningKernelTypes(new Map())("ext4").then((t) => console.log(t.btf ? t.source : t.missing))' 2>&1)" /sys/kernel/btf/ext4
  echo "ext4 BTF from sysfs: read and parsed in $(( ($(date +%s%N) - started) / 1000000 )) ms" >> "$timings"
  # Why it is not read with fs.promises.readFile (src/kernel/read-kernel-file.ts), as seen here.
  echo "ext4 BTF from sysfs: $(stat -c %s /sys/kernel/btf/ext4) bytes by stat, $(wc -c < /sys/kernel/btf/ext4) by cat, $(node -e \
    'require("fs").promises.readFile("/sys/kernel/btf/ext4").then((b) => console.log(b.length))') by fs.promises.readFile" >> "$timings"
  if [ -f "$SPLICED_SRC/test/guest/guest-build/feed-checks.sh" ]; then
    source "$SPLICED_SRC/test/guest/guest-build/feed-checks.sh"
    source "$SPLICED_SRC/test/guest/guest-build/reboot-flag-checks.sh"
  fi
  exit 99
  ;;
3)
  check "running the older kernel again" test "$(uname -r)" = "$OLDER_RELEASE"
  source "$SPLICED_SRC/test/guest/guest-build/feed-boot3-checks.sh"
  exit 0
  ;;
esac
exit 1
