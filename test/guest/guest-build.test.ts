// Splices built inside the guest, on the machine they are for, as `spliced build` and the daemon do there: the
// toolchain comes from the image, the kernel trees are prepared on the host (the guest has no network) and copied in
// (harness/trees.ts), and run-pre reads the live kernel's code. test/guest/guest-build/entry.sh holds the scenario.
import { test } from 'node:test';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { prepareTree, resolveDebianBuild } from '../../src/build/tree/tree';
import { parseRelease, sourcePackage } from '../../src/sources/feed/kernel-release';
import { cachedSource } from '../../src/sources/feed/source-cache';
import { testSourceVersion } from './harness/feed-test-source';
import { GUEST_KERNELS, kernelTreeDisks, repoRoot, reportChecks, runGuest, stageFeedRepo, stageInstall, warmPreObjects } from './harness';

const [NEWER, OLDER] = GUEST_KERNELS;
/** Applied, effect checked and reverted after building it in the guest. */
const STRING_PATCH = 'test/fixtures/patches/01-string-meminfo.patch';
/** A change to the newer kernel's source inside a function Debian changed between the two builds (see its Notes). */
const RUN_PRE_PATCH = 'test/fixtures/patches/run-pre/ext4-mballoc-newer-source.patch';
const RUN_PRE_FUNCTION = 'ext4_mb_load_buddy_gfp';
/** The source patches guest-build/daemon-checks.sh hands the daemon (D-Bus Apply, the drop directory). */
const DAEMON_PATCHES = ['test/fixtures/patches/02-logic-uptime.patch', 'test/fixtures/patches/03-new-function-version.patch'];

const EXPECTED = [
  'the kernel trees are mounted',
  'running the newer kernel',
  'spliced build of the string patch exits 0',
  'the module is written',
  'run-pre checked every replaced function against the live kernel',
  "layouts judged against the live kernel's BTF",
  'effect visible in /proc/meminfo',
  'effect gone after revert',
  // The fault point build-done (daemon-checks.sh): the daemon suite has no kernel tree to build in.
  'fault build-done: spliced killed itself there',
  'fault build-done: recorded applied patches equal live sysfs',
  'fault build-done: no patch recorded twice',
  'fault build-done: the next start applied the module built before the kill, without building again',
  'running the older kernel',
  'spliced build of the newer source for the older kernel fails',
  'refused by run-pre',
  'the refusal names the function',
  'no module written',
  'the live ext4 BTF is read from sysfs',
  'feed: policy off: nothing applied',
  'feed: policy notify: the start-up refresh offers the target',
  'feed: policy notify: nothing applied',
  'feed: pinned: nothing newer than the pin is offered',
  'feed: the fix becomes live: EffectiveVersion reaches the target',
  'feed: the splice\'s origin is feed',
  'feed: the ext4 object is patched',
  'feed: RebootRequired false',
  'feed: one feed build for two apt updates',
  'feed: the plan ran as a build worker job in spliced-build@<id>.service, as spliced-build',
  'feed: the feed cache a root spliced left was handed to spliced-build',
  "feed: spliced has no network of its own (a network namespace apart from PID 1's)",
  'feed: systemd shows spliced.service without network (PrivateNetwork, RestrictAddressFamilies)',
  "feed: spliced's own apt calls never lacked a writable TMPDIR (mkstemp)",
  'reboot flag: the hook sets it for the newer image',
  'reboot flag: spliced takes the newer image out, and the flag with it',
  'reboot flag: only the newer image is taken out',
  'reboot flag: spliced sees /run read-only',
  'reboot flag: spliced-reboot-flag.service removed the flag',
  'reboot flag: clear_reboot_required = no leaves it',
  'running the older kernel again',
  "feed after reboot: EffectiveVersion is the feed's target",
  'feed after reboot: the feed splice is enabled in sysfs',
  'feed after reboot: the ext4 object is patched',
  'feed after reboot: RebootRequired false',
  "feed after reboot: one livepatch transition this boot, the feed splice's",
  'feed test version: apt sees it',
  'feed test version: a feed splice is built',
  'feed test version: RebootRequired true',
  "feed test version: RebootReasons names the refused fix's changelog line and CVE",
  'feed test version: ... and why (UnsafePatch: assembly)',
  "feed test version: EffectiveVersion stays at Debian's target",
  'feed test version: its spliceable fix is live',
  'feed test version: only the new fix\'s object was compiled (mballoc.o taken from the last feed build)',
  'feed test version: the new feed splice declares no version and only the live fix\'s CVE',
  'feed test version: splicectl status --json says the same',
];
/** The distro feed's target on the older kernel: Debian's ext4 fix (6.1.192-2) for 6.1.0-55 (6.1.192-1). */
const FEED_TARGET = '6.1.192-2';
/**
 * Boot 3: a version the test makes from Debian's FEED_TARGET deb (feed-test-source.ts) with one fix the builder can
 * splice (fixture 01, /proc/meminfo) and one it refuses (fixture 15: arch/x86 assembly). The refusal is the
 * plan's, before any build, so the splice is one build under TCG; a refusal found by the builder (an __init change:
 * the file dropped, the rest built again) is the feed's host tests' (test/unit/feed/).
 */
const FEED_TEST_VERSION = `${FEED_TARGET}+spliced.test1`;
const FEED_TEST_SPLICED = { patch: 'test/fixtures/patches/01-string-meminfo.patch', cve: 'CVE-2026-99901' };
const FEED_TEST_REFUSED = { patch: 'test/fixtures/patches/15-fail-assembly.patch', cve: 'CVE-2026-99902' };
const FEED_TEST_ENTRY = [
  `linux (${FEED_TEST_VERSION}) bookworm-security; urgency=high`,
  '',
  `  * proc: rename the MemTotal label of fs/proc/meminfo.c (${FEED_TEST_SPLICED.cve})`,
  `  * x86: comment memcpy in arch/x86/lib/memcpy_64.S (${FEED_TEST_REFUSED.cve})`,
  '',
  ' -- spliced test <test@spliced.invalid>  Tue, 01 Dec 2026 08:00:00 +0000',
].join('\n');

test('splices built inside the guest, run-pre against the live kernel', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'guest-build-suite-'));
  const newer = await prepareTree(await resolveDebianBuild({ release: NEWER }));
  // The older kernel's build, compiled from the newer kernel's source (`spliced build --source-version`).
  const older = await prepareTree(await resolveDebianBuild({ release: OLDER, sourceVersion: newer.debianVersion }));
  // The older kernel's own build: the feed's splice is built from its own source plus the delta.
  const olderOwn = await prepareTree(await resolveDebianBuild({ release: OLDER }));
  const running = { release: OLDER, sourceVersion: olderOwn.debianVersion };
  // Only the string build compiles both sides in the guest (entry.sh removes its cached object).
  const warmed = Date.now();
  await warmPreObjects(newer, DAEMON_PATCHES);
  await warmPreObjects(older, [RUN_PRE_PATCH]);
  // The feed's splices on the older kernel's own source: Debian's ext4 fix (mballoc.c), then the test version's.
  await warmPreObjects(olderOwn, [RUN_PRE_PATCH, FEED_TEST_SPLICED.patch]);
  t.diagnostic(`unpatched objects of the guest's builds compiled on the host: ${Date.now() - warmed} ms`);
  const made = Date.now();
  const kernel = parseRelease(OLDER);
  const next = await testSourceVersion({
    base: (await cachedSource(sourcePackage(kernel), kernel.series, FEED_TARGET)).deb,
    version: FEED_TEST_VERSION,
    entry: FEED_TEST_ENTRY,
    patches: [FEED_TEST_SPLICED.patch, FEED_TEST_REFUSED.patch],
    running,
  });
  t.diagnostic(`feed test version ${FEED_TEST_VERSION}: ${next} (${Date.now() - made} ms, cached by its inputs)`);
  const feedFiles = await stageFeedRepo(workDir, running, FEED_TARGET, next);
  t.diagnostic(`feed delta ${olderOwn.debianVersion} -> ${FEED_TARGET}: ${feedFiles.join(' ')}`);
  const env = {
    NEWER_RELEASE: NEWER,
    OLDER_RELEASE: OLDER,
    NEWER_SOURCE: newer.debianVersion,
    NEWER_TREE: basename(newer.cacheDir),
    OLDER_OWN_TREE: basename(olderOwn.cacheDir),
    STRING_PATCH: `$SPLICED_SRC/${STRING_PATCH}`,
    RUN_PRE_PATCH: `$SPLICED_SRC/${RUN_PRE_PATCH}`,
    RUN_PRE_FUNCTION,
    FEED_TARGET,
    FEED_TEST_VERSION,
    FEED_TEST_SPLICED_CVE: FEED_TEST_SPLICED.cve,
    FEED_TEST_REFUSED_CVE: FEED_TEST_REFUSED.cve,
    FEED_TEST_SPLICED_PATCH: `$SPLICED_SRC/${FEED_TEST_SPLICED.patch}`,
  };
  writeFileSync(join(workDir, 'guest-build.env'), Object.entries(env).map(([k, v]) => `${k}="${v}"\n`).join(''));
  stageInstall(workDir);
  copyFileSync(join(repoRoot(), 'test/guest/guest-build/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({
    name: 'guest-build',
    workDir,
    entry: 'entry.sh',
    kernels: [NEWER, OLDER],
    maxBoots: 3,
    // gcc-12 on a large translation unit needs about 1 GB besides the system and the daemon.
    memoryMiB: 2048,
    disks: kernelTreeDisks([newer, older, olderOwn], workDir),
    // ≈ 32 min alone on a quiet host; a build under TCG on a loaded host takes 2–3× its quiet time (docs/testing.md).
    timeoutMs: 55 * 60_000,
  });
  for (const file of ['timings.txt', 'feed-journal.txt', 'feed-journal-boot3.txt'].map((name) => join(workDir, name))) {
    if (existsSync(file)) t.diagnostic(readFileSync(file, 'utf8').trim());
  }
  await reportChecks(t, result, workDir, EXPECTED);
});
