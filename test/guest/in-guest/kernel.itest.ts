// The livepatch backend against Debian's real 6.1 kernel. Runs inside the guest (as root), started by
// test/guest/kernel.test.ts: `node --test dist/test/guest/in-guest/kernel.itest.js` with GUEST_WORK holding the fixtures.
import { afterEach, before, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { isSplicedError, type ErrorKind, type SplicedError } from '../../../src/errors';
import { KernelBackend, type LoadOptions } from '../../../src/kernel';
import { DevKmsg } from '../../../src/kernel/kmsg';
import { KmodLoader } from '../../../src/kernel/module-loader';
import { KLP_MODULES, OWN_MODULES, UNRESOLVED_MODULE, kernelFixtures, type KlpModule, type Selftest } from '../../fixtures/kernel-fixtures';
import { expectedKernelLog, selftestRelevant } from './selftest-expectations';

const work = process.env.GUEST_WORK;
if (!work || !existsSync('/sys/kernel/livepatch')) throw new Error('kernel.itest runs inside the test guest only (GUEST_WORK unset or no livepatch support)');
const fixtures = kernelFixtures(join(work, 'fixtures'));
const kernel = new KernelBackend();
const kmsg = new DevKmsg();
const modules = new KmodLoader();

const CMDLINE_MARKER = 'spliced-fixture: cmdline patched by spliced_lp_cmdline';
const VERSION_MARKER = 'spliced-fixture: version patched by spliced_lp_version_replace';

const read = (path: string) => readFileSync(path, 'utf8');
const loaded = (module: string) => existsSync(`/sys/module/${module}`);

async function rejectsWith(promise: Promise<unknown>, kind: ErrorKind): Promise<SplicedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isSplicedError(err, kind), `expected ${kind}, got ${isSplicedError(err) ? `${err.kind}: ${err.message}` : String(err)}`);
    assert.ok(err.message.length > 20, 'an explanatory message');
    return err;
  }
  assert.fail(`expected ${kind}, but it succeeded`);
}

/** Kernel log messages written while `body` ran. */
async function kernelLogDuring(body: () => Promise<void>): Promise<string[]> {
  const mark = await kmsg.position();
  await body();
  return (await kmsg.recordsSince(mark)).map((r) => r.message);
}

const DYNAMIC_DEBUG = '/sys/kernel/debug/dynamic_debug/control';
let original: { cmdline: string; version: string };
before(() => {
  // What the selftests' setup_config does: the livepatch core's pr_debug lines are part of the expected kernel log.
  if (!existsSync(DYNAMIC_DEBUG)) execFileSync('mount', ['-t', 'debugfs', 'debugfs', '/sys/kernel/debug']);
  writeFileSync(DYNAMIC_DEBUG, 'file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n');
  original = { cmdline: read('/proc/cmdline'), version: read('/proc/version') };
});

// A failed test must not leave patches or modules behind for the next one.
afterEach(async () => {
  for (const patch of await kernel.list()) await kernel.revert(patch.name).catch(() => undefined);
  for (const name of [...KLP_MODULES, ...OWN_MODULES, UNRESOLVED_MODULE]) {
    if (loaded(name)) await modules.remove(name).catch(() => undefined);
  }
});

test('identity: release, build id from /sys/kernel/notes, /proc/version', async () => {
  const id = await kernel.identity();
  assert.equal(id.release, read('/proc/sys/kernel/osrelease').trim());
  assert.match(id.buildId, /^[0-9a-f]{40}$/);
  assert.equal(id.version, original.version.trim());
  assert.ok(id.version.startsWith(`Linux version ${id.release} `));
});

test('modinfo of a livepatch and of a plain module, read without loading them', async () => {
  const lp = await kernel.readModuleInfo(fixtures.own('spliced_lp_cmdline'));
  assert.equal(lp.name, 'spliced_lp_cmdline');
  assert.equal(lp.livepatch, true);
  assert.equal(lp.release, release());
  assert.match(lp.vermagic, /^\S+ SMP preempt mod_unload modversions/);
  const plain = await kernel.readModuleInfo(fixtures.own('spliced_plain'));
  assert.equal(plain.livepatch, false);
  assert.equal(loaded('spliced_lp_cmdline') || loaded('spliced_plain'), false);
});

test('own livepatch: apply → /proc/cmdline shows the marker → revert → original again, module unloaded', async () => {
  const result = await kernel.load(fixtures.own('spliced_lp_cmdline'));
  assert.equal(result.patch, 'spliced_lp_cmdline');
  assert.deepEqual(result.superseded, []);
  assert.ok(result.durationMs > 0);
  assert.equal(read('/proc/cmdline'), `${CMDLINE_MARKER}\n`);
  const [live] = await kernel.list();
  assert.equal(live.name, 'spliced_lp_cmdline');
  assert.equal(live.enabled, true);
  assert.equal(live.transition, false);
  assert.equal(live.objects.length, 1);
  assert.equal(live.objects[0].name, 'vmlinux');
  assert.equal(live.objects[0].patched, true);
  assert.deepEqual(live.objects[0].functions.map((f) => f.name), ['cmdline_proc_show']);
  assert.ok(Number.isInteger(live.objects[0].functions[0].sympos));

  await kernel.revert('spliced_lp_cmdline');
  assert.equal(read('/proc/cmdline'), original.cmdline);
  assert.deepEqual(await kernel.list(), []);
  assert.equal(loaded('spliced_lp_cmdline'), false);
});

test('own atomic-replace livepatch supersedes the older one: its effect goes, its module is unloaded', async () => {
  await kernel.load(fixtures.own('spliced_lp_cmdline'));
  assert.equal(read('/proc/cmdline'), `${CMDLINE_MARKER}\n`);
  const result = await kernel.load(fixtures.own('spliced_lp_version_replace'));
  assert.deepEqual(result.superseded, ['spliced_lp_cmdline']);
  assert.equal(read('/proc/version'), `${VERSION_MARKER}\n`);
  assert.equal(read('/proc/cmdline'), original.cmdline);
  assert.equal(loaded('spliced_lp_cmdline'), false);
  assert.deepEqual((await kernel.list()).map((p) => p.name), ['spliced_lp_version_replace']);

  await kernel.revert('spliced_lp_version_replace');
  assert.equal(read('/proc/version'), original.version);
  assert.equal(loaded('spliced_lp_version_replace'), false);
});

// Scenarios of Linux's own selftests, driven through the backend, compared with the kernel log the selftest expects.
function selftest(script: Selftest, title: string, body: () => Promise<void>): void {
  test(`selftest ${script}: ${title}`, async () => {
    const log = await kernelLogDuring(body);
    assert.deepEqual(selftestRelevant(log), expectedKernelLog(read(fixtures.selftest(script)), title));
  });
}

const loadLp = (name: KlpModule, ...moduleParams: string[]) => kernel.load(fixtures.klp(name), { moduleParams } satisfies LoadOptions);
const loadMod = (name: KlpModule, ...params: string[]) => modules.insert(fixtures.klp(name), params);
/** What the selftests do with `grep 'live patched' /proc/cmdline > /dev/kmsg` (and meminfo). */
function logLivePatched(): void {
  for (const file of ['/proc/cmdline', '/proc/meminfo']) {
    for (const line of read(file).split('\n').filter((l) => l.includes('live patched'))) appendFileSync('/dev/kmsg', `${line}\n`);
  }
}

selftest('livepatch', 'basic function patching', async () => {
  await loadLp('test_klp_livepatch');
  assert.equal(read('/proc/cmdline').trim(), 'test_klp_livepatch: this has been live patched');
  await kernel.revert('test_klp_livepatch');
  assert.equal(read('/proc/cmdline'), original.cmdline);
});

selftest('livepatch', 'multiple livepatches', async () => {
  await loadLp('test_klp_livepatch');
  logLivePatched();
  await loadLp('test_klp_atomic_replace', 'replace=0');
  logLivePatched();
  // Stacked: reverted top first; the lower patch's effect stays until it is reverted too.
  await kernel.revert('test_klp_atomic_replace');
  logLivePatched();
  assert.doesNotMatch(read('/proc/meminfo'), /live patched/);
  assert.match(read('/proc/cmdline'), /live patched/);
  await kernel.revert('test_klp_livepatch');
  logLivePatched();
  assert.equal(read('/proc/cmdline'), original.cmdline);
});

// The distro feed retires its older splice while newer patches stay above it (docs/architecture.md): 6.1 must let
// a patch that is not the top of the stack be disabled (the stacking rule went in 5.1).
test('a patch below another one can be disabled and unloaded while the one above stays live', async () => {
  await loadLp('test_klp_livepatch');
  await loadLp('test_klp_atomic_replace', 'replace=0');
  await kernel.revert('test_klp_livepatch');
  assert.equal(loaded('test_klp_livepatch'), false);
  assert.equal(read('/proc/cmdline'), original.cmdline);
  assert.match(read('/proc/meminfo'), /live patched/);
  await kernel.revert('test_klp_atomic_replace');
  assert.doesNotMatch(read('/proc/meminfo'), /live patched/);
});

selftest('livepatch', 'atomic replace livepatch', async () => {
  await loadLp('test_klp_livepatch');
  logLivePatched();
  const result = await loadLp('test_klp_atomic_replace', 'replace=1');
  assert.deepEqual(result.superseded, ['test_klp_livepatch']);
  logLivePatched();
  // The selftest's `rmmod test_klp_livepatch` happened inside load(): the superseded module is gone already.
  assert.equal(loaded('test_klp_livepatch'), false);
  logLivePatched();
  await kernel.revert('test_klp_atomic_replace');
  logLivePatched();
});

selftest('callbacks', 'target module before livepatch', async () => {
  await loadMod('test_klp_callbacks_mod');
  await loadLp('test_klp_callbacks_demo');
  await kernel.revert('test_klp_callbacks_demo');
  await modules.remove('test_klp_callbacks_mod');
});

selftest('callbacks', 'module_coming notifier', async () => {
  await loadLp('test_klp_callbacks_demo');
  await loadMod('test_klp_callbacks_mod');
  await kernel.revert('test_klp_callbacks_demo');
  await modules.remove('test_klp_callbacks_mod');
});

selftest('callbacks', 'module_going notifier', async () => {
  await loadMod('test_klp_callbacks_mod');
  await loadLp('test_klp_callbacks_demo');
  await modules.remove('test_klp_callbacks_mod');
  await kernel.revert('test_klp_callbacks_demo');
});

selftest('callbacks', 'target module not present', async () => {
  await loadLp('test_klp_callbacks_demo');
  await kernel.revert('test_klp_callbacks_demo');
});

selftest('callbacks', 'pre-patch callback -ENODEV', async () => {
  await loadMod('test_klp_callbacks_mod');
  const err = await rejectsWith(loadLp('test_klp_callbacks_demo', 'pre_patch_ret=-19'), 'LoadFailed');
  assert.match(err.message, /pre-patch callback failed for object 'vmlinux'/);
  assert.equal(loaded('test_klp_callbacks_demo'), false);
  await modules.remove('test_klp_callbacks_mod');
});

selftest('callbacks', 'multiple target modules', async () => {
  await loadMod('test_klp_callbacks_busy', 'block_transition=N');
  await loadLp('test_klp_callbacks_demo');
  await loadMod('test_klp_callbacks_mod');
  await modules.remove('test_klp_callbacks_mod');
  await kernel.revert('test_klp_callbacks_demo');
  await modules.remove('test_klp_callbacks_busy');
});

selftest('callbacks', 'busy target module', async () => {
  await loadMod('test_klp_callbacks_busy', 'block_transition=Y');
  await modules.insert(fixtures.klp('test_klp_callbacks_demo')); // the selftest's load_lp_nowait
  for (let i = 0; i < 100 && !(await kernel.list()).some((p) => p.transition); i++) await new Promise((r) => setTimeout(r, 50));
  await loadMod('test_klp_callbacks_mod');
  await modules.remove('test_klp_callbacks_mod');
  await kernel.revert('test_klp_callbacks_demo'); // reverses the stalled transition, then unloads
  await modules.remove('test_klp_callbacks_busy');
});

selftest('callbacks', 'multiple livepatches', async () => {
  await loadLp('test_klp_callbacks_demo');
  await loadLp('test_klp_callbacks_demo2');
  await kernel.revert('test_klp_callbacks_demo2');
  await kernel.revert('test_klp_callbacks_demo');
});

selftest('callbacks', 'atomic replace', async () => {
  await loadLp('test_klp_callbacks_demo');
  const result = await loadLp('test_klp_callbacks_demo2', 'replace=1');
  assert.deepEqual(result.superseded, ['test_klp_callbacks_demo']);
  await kernel.revert('test_klp_callbacks_demo2');
  assert.equal(loaded('test_klp_callbacks_demo'), false);
});

selftest('shadow-vars', 'basic shadow variable API', async () => {
  // A plain module exercising the klp_shadow_* API: the backend refuses it as a livepatch; it is loaded directly.
  await rejectsWith(kernel.load(fixtures.klp('test_klp_shadow_vars')), 'NotLivepatchModule');
  await loadMod('test_klp_shadow_vars');
  await modules.remove('test_klp_shadow_vars');
});

selftest('state', 'system state modification', async () => {
  await loadLp('test_klp_state');
  await kernel.revert('test_klp_state');
});

selftest('state', 'taking over system state modification', async () => {
  await loadLp('test_klp_state');
  assert.deepEqual((await loadLp('test_klp_state2')).superseded, ['test_klp_state']);
  await kernel.revert('test_klp_state2');
});

selftest('state', 'compatible cumulative livepatches', async () => {
  await loadLp('test_klp_state2');
  assert.deepEqual((await loadLp('test_klp_state3')).superseded, ['test_klp_state2']);
  assert.deepEqual((await loadLp('test_klp_state2')).superseded, ['test_klp_state3']);
  await kernel.revert('test_klp_state2');
});

selftest('state', 'incompatible cumulative livepatches', async () => {
  await loadLp('test_klp_state2');
  const err = await rejectsWith(loadLp('test_klp_state'), 'LoadFailed');
  assert.match(err.message, /not compatible with the already installed livepatches/);
  await kernel.revert('test_klp_state2');
});

test('a stalled transition is reversed and unloaded after the timeout, naming the blocking task; meanwhile others get Busy', async (t) => {
  await loadMod('test_klp_callbacks_busy', 'block_transition=Y');
  const stalled = rejectsWith(kernel.load(fixtures.klp('test_klp_callbacks_demo'), { transitionTimeoutMs: 8_000 }), 'TransitionStalled');
  // Wait until the demo patch is visibly in transition, then try another patch: the kernel answers EBUSY.
  for (let i = 0; i < 100 && !(await kernel.list()).some((p) => p.transition); i++) await new Promise((r) => setTimeout(r, 50));
  const busy = await rejectsWith(kernel.load(fixtures.klp('test_klp_livepatch'), { busyRetries: 1 }), 'Busy');
  assert.match(busy.message, /tried 2 times/);
  assert.equal(loaded('test_klp_livepatch'), false);

  const err = await stalled;
  t.diagnostic(`Busy: ${busy.message}`);
  t.diagnostic(`TransitionStalled: ${err.message}`);
  const blockers = err.details.blockingTasks as { pid: number; tid: number; comm: string; stack: string[] }[];
  const blocker = blockers.find((t) => t.stack.some((frame) => frame.startsWith('busymod_work_func')));
  assert.ok(blocker, `a blocking task inside busymod_work_func: ${JSON.stringify(blockers)}`);
  assert.match(blocker.comm, /^kworker/);
  assert.ok(err.message.includes(`${blocker.comm} (pid ${blocker.pid}, tid ${blocker.tid})`), err.message);
  assert.equal(err.details.reversed, true);
  assert.deepEqual(await kernel.list(), []);
  assert.equal(loaded('test_klp_callbacks_demo'), false);
  await modules.remove('test_klp_callbacks_busy');
});

test('revert reverses an enable that is still in transition, then unloads; reverting another meanwhile is Busy', async () => {
  await kernel.load(fixtures.own('spliced_lp_cmdline'));
  await loadMod('test_klp_callbacks_busy', 'block_transition=Y');
  await modules.insert(fixtures.klp('test_klp_callbacks_demo')); // straight to the kernel: nobody waits for its transition
  const demo = (await kernel.list()).find((p) => p.name === 'test_klp_callbacks_demo');
  assert.equal(demo?.transition, true);

  await rejectsWith(kernel.revert('spliced_lp_cmdline', { busyRetries: 1 }), 'Busy');
  assert.equal(read('/proc/cmdline'), `${CMDLINE_MARKER}\n`, 'the refused revert changed nothing');
  const log = await kernelLogDuring(() => kernel.revert('test_klp_callbacks_demo', { transitionTimeoutMs: 10_000 }));
  assert.ok(log.includes("livepatch: 'test_klp_callbacks_demo': reversing transition from patching to unpatching"), log.join('\n'));
  assert.equal(loaded('test_klp_callbacks_demo'), false);
  await modules.remove('test_klp_callbacks_busy');
  await kernel.revert('spliced_lp_cmdline');
  assert.deepEqual(await kernel.list(), []);
  assert.equal(read('/proc/cmdline'), original.cmdline);
});

test('WrongKernel: a module built against another release is refused before loading', async () => {
  const err = await rejectsWith(kernel.load(fixtures.wrongRelease), 'WrongKernel');
  assert.ok(err.message.includes(release()), err.message);
  assert.equal(loaded('spliced_lp_cmdline'), false);
});

test('WrongKernel: a symbol CRC that disagrees with the kernel is reported from the kernel log', async () => {
  const err = await rejectsWith(kernel.load(fixtures.crcMismatch), 'WrongKernel');
  assert.deepEqual(err.details.symbols, [fixtures.crcMismatchSymbol]);
  assert.equal(loaded('spliced_lp_cmdline'), false);
});

test('NotLivepatchModule: a plain module is refused and not loaded', async () => {
  await rejectsWith(kernel.load(fixtures.own('spliced_plain')), 'NotLivepatchModule');
  assert.equal(loaded('spliced_plain'), false);
});

test('CorruptModule and UnreadableModule: a truncated file, a missing file', async () => {
  const truncated = join('/tmp', 'spliced_lp_cmdline-truncated.ko');
  writeFileSync(truncated, readFileSync(fixtures.own('spliced_lp_cmdline')).subarray(0, 3000));
  await rejectsWith(kernel.load(truncated), 'CorruptModule');
  await rejectsWith(kernel.load('/tmp/no-such-module.ko'), 'UnreadableModule');
});

test('AlreadyLoaded: the same livepatch twice', async () => {
  await kernel.load(fixtures.own('spliced_lp_cmdline'));
  await rejectsWith(kernel.load(fixtures.own('spliced_lp_cmdline')), 'AlreadyLoaded');
  await kernel.revert('spliced_lp_cmdline');
});

test('UnresolvedSymbol: a symbol no kernel exports, and a patched function the kernel does not have', async () => {
  const missingExport = await rejectsWith(kernel.load(fixtures.own(UNRESOLVED_MODULE)), 'UnresolvedSymbol');
  assert.deepEqual(missingExport.details.symbols, ['spliced_fixture_only_symbol']);
  const missingTarget = await rejectsWith(kernel.load(fixtures.own('spliced_lp_missing_target')), 'UnresolvedSymbol');
  assert.deepEqual(missingTarget.details.symbols, ['spliced_fixture_no_such_function']);
  assert.equal(loaded(UNRESOLVED_MODULE) || loaded('spliced_lp_missing_target'), false);
});

test('PatchNotLoaded: reverting a patch that is not there', async () => {
  await rejectsWith(kernel.revert('spliced_no_such_patch'), 'PatchNotLoaded');
});
