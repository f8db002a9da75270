// Splices built inside the guest, on the machine they are for, as `spliced build` and the daemon do there: the
// toolchain comes from the image, the kernel trees are prepared on the host (the guest has no network) and copied in
// (harness/trees.ts), and run-pre reads the live kernel's code. test/guest/guest-build/entry.sh holds the scenario.
import { test } from 'node:test';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { prepareTree, resolveDebianBuild } from '../../src/build/tree/tree';
import { GUEST_KERNELS, kernelTreeDisks, repoRoot, reportChecks, runGuest, stageFeedRepo, stageInstall } from './harness';

const [NEWER, OLDER] = GUEST_KERNELS;
/** Applied, effect checked and reverted after building it in the guest. */
const STRING_PATCH = 'test/fixtures/patches/01-string-meminfo.patch';
/** A change to the newer kernel's source inside a function Debian changed between the two builds (see its Notes). */
const RUN_PRE_PATCH = 'test/fixtures/patches/run-pre/ext4-mballoc-newer-source.patch';
const RUN_PRE_FUNCTION = 'ext4_mb_load_buddy_gfp';

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
];
/** The distro feed's target on the older kernel: Debian's ext4 fix (6.1.192-2) for 6.1.0-55 (6.1.192-1). */
const FEED_TARGET = '6.1.192-2';

test('splices built inside the guest, run-pre against the live kernel', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'guest-build-suite-'));
  const newer = await prepareTree(await resolveDebianBuild({ release: NEWER }));
  // The older kernel's build, compiled from the newer kernel's source (`spliced build --source-version`).
  const older = await prepareTree(await resolveDebianBuild({ release: OLDER, sourceVersion: newer.debianVersion }));
  // The older kernel's own build: the feed's splice is built from its own source plus the delta.
  const olderOwn = await prepareTree(await resolveDebianBuild({ release: OLDER }));
  const feedFiles = await stageFeedRepo(workDir, { release: OLDER, sourceVersion: olderOwn.debianVersion }, FEED_TARGET);
  t.diagnostic(`feed delta ${olderOwn.debianVersion} -> ${FEED_TARGET}: ${feedFiles.join(' ')}`);
  const env = {
    NEWER_RELEASE: NEWER,
    OLDER_RELEASE: OLDER,
    NEWER_SOURCE: newer.debianVersion,
    NEWER_TREE: basename(newer.cacheDir),
    STRING_PATCH: `$SPLICED_SRC/${STRING_PATCH}`,
    RUN_PRE_PATCH: `$SPLICED_SRC/${RUN_PRE_PATCH}`,
    RUN_PRE_FUNCTION,
    FEED_TARGET,
  };
  writeFileSync(join(workDir, 'guest-build.env'), Object.entries(env).map(([k, v]) => `${k}="${v}"\n`).join(''));
  stageInstall(workDir);
  copyFileSync(join(repoRoot(), 'test/guest/guest-build/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({
    name: 'guest-build',
    workDir,
    entry: 'entry.sh',
    kernels: [NEWER, OLDER],
    maxBoots: 2,
    // gcc-12 on a large translation unit needs about 1 GB besides the system and the daemon.
    memoryMiB: 2048,
    disks: kernelTreeDisks([newer, older, olderOwn], workDir),
    timeoutMs: 40 * 60_000,
  });
  for (const file of ['timings.txt', 'feed-journal.txt'].map((name) => join(workDir, name))) {
    if (existsSync(file)) t.diagnostic(readFileSync(file, 'utf8').trim());
  }
  await reportChecks(t, result, workDir, EXPECTED);
});
