// The backend's decisions on a fake sysfs/procfs tree. The real proof is test/guest/kernel.test.ts.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isSplicedError, type ErrorKind } from '../../../src/errors';
import { KernelBackend } from '../../../src/kernel';
import { FakeKernel } from './fake-kernel';
import { livepatchFile, moduleFile, RELEASE } from './module-file';

let fake: FakeKernel;
let kernel: KernelBackend;

beforeEach(() => {
  fake = new FakeKernel();
  kernel = new KernelBackend({
    roots: fake.roots,
    loader: fake,
    log: fake,
    release: () => RELEASE,
    pollIntervalMs: 5,
    busyBackoffMs: 5,
    defaults: { transitionTimeoutMs: 2_000, busyRetries: 3 },
  });
});
afterEach(() => fake.close());

const isKind = (kind: ErrorKind) => (err: unknown) => isSplicedError(err, kind);

test('load waits for the transition and lists the live patch with objects and functions; revert removes it all', async () => {
  fake.behaviours.set('lp_a', { functions: ['cmdline_proc_show', 'meminfo_proc_show'] });
  const result = await kernel.load(livepatchFile('lp_a'));
  assert.equal(result.patch, 'lp_a');
  assert.deepEqual(result.superseded, []);
  assert.ok(result.durationMs >= 20, 'waited for the transition');
  assert.deepEqual(await kernel.list(), [
    {
      name: 'lp_a',
      enabled: true,
      transition: false,
      objects: [
        {
          name: 'vmlinux',
          patched: true,
          functions: [
            { name: 'cmdline_proc_show', sympos: 1 },
            { name: 'meminfo_proc_show', sympos: 1 },
          ],
        },
      ],
    },
  ]);
  await kernel.revert('lp_a');
  assert.deepEqual(await kernel.list(), []);
  assert.equal(fake.moduleLoaded('lp_a'), false);
});

test('lists live patches in load order, oldest first (the stack order when the record is rebuilt)', async () => {
  await kernel.load(livepatchFile('lp_b'));
  await kernel.load(livepatchFile('lp_a'));
  assert.deepEqual((await kernel.list()).map((p) => p.name), ['lp_b', 'lp_a']);
});

test('checks before loading: not a livepatch, another release, already loaded — the kernel is never asked', async () => {
  await assert.rejects(kernel.load(moduleFile('plain', { vermagic: `${RELEASE} SMP` })), isKind('NotLivepatchModule'));
  await assert.rejects(kernel.load(livepatchFile('old', '6.1.0-55-amd64')), (err) => {
    return isSplicedError(err, 'WrongKernel') && err.message.includes('6.1.0-55-amd64') && err.message.includes(RELEASE);
  });
  await kernel.load(livepatchFile('lp_a'));
  await assert.rejects(kernel.load(livepatchFile('lp_a')), isKind('AlreadyLoaded'));
  assert.deepEqual(fake.inserted.map((i) => i.name), ['lp_a']);
});

test('EBUSY is retried with backoff; it succeeds once the other transition is over', async () => {
  fake.behaviours.set('lp_b', { insertErrno: 'EBUSY', failures: 2 });
  await kernel.load(livepatchFile('lp_b'));
  assert.equal(fake.inserted.length, 3);
});

test('EBUSY past the retries is Busy, after 1 + busyRetries attempts', async () => {
  fake.behaviours.set('lp_b', { insertErrno: 'EBUSY' });
  await assert.rejects(kernel.load(livepatchFile('lp_b'), { busyRetries: 2 }), (err) => {
    return isSplicedError(err, 'Busy') && /tried 3 times/.test(err.message);
  });
  assert.equal(fake.inserted.length, 3);
});

test('a stalled transition: blockers reported from patch_state, the patch reversed and unloaded, never forced', async () => {
  fake.behaviours.set('lp_s', { stall: true });
  fake.addTask(37, 'kworker/0:1', 0, ['msleep+0x2d/0x40', 'busymod_work_func+0x3a/0x60 [busy]']);
  fake.addTask(40, 'bash', 1, ['do_wait+0x1/0x2']);
  fake.addTask(41, 'idle-ish', -1, []);
  await assert.rejects(kernel.load(livepatchFile('lp_s'), { transitionTimeoutMs: 100 }), (err) => {
    assert.ok(isSplicedError(err, 'TransitionStalled'));
    assert.deepEqual(err.details.blockingTasks, [
      { pid: 37, tid: 37, comm: 'kworker/0:1', stack: ['msleep+0x2d/0x40', 'busymod_work_func+0x3a/0x60 [busy]'] },
    ]);
    assert.match(err.message, /kworker\/0:1 \(pid 37, tid 37\) in busymod_work_func/);
    assert.equal(err.details.reversed, true);
    return true;
  });
  assert.equal(existsSync(fake.patchDir('lp_s')), false);
  assert.equal(fake.moduleLoaded('lp_s'), false);
  assert.equal(existsSync(`${fake.patchDir('lp_s')}/force`), false);
});

test('atomic replace: older patches reported as superseded and their modules unloaded', async () => {
  await kernel.load(livepatchFile('lp_a'));
  await kernel.load(livepatchFile('lp_b'));
  fake.behaviours.set('lp_r', { replace: true });
  const result = await kernel.load(livepatchFile('lp_r'));
  assert.deepEqual(result.superseded.sort(), ['lp_a', 'lp_b']);
  assert.equal(fake.moduleLoaded('lp_a') || fake.moduleLoaded('lp_b'), false);
  assert.deepEqual((await kernel.list()).map((p) => p.name), ['lp_r']);
});

test('load failures are classified from the kernel log written during the attempt', async () => {
  const cases: [string, string, string[], ErrorKind][] = [
    ['lp_crc', 'ENOEXEC', ['lp_crc: disagrees about version of symbol klp_enable_patch'], 'WrongKernel'],
    ['lp_magic', 'ENOEXEC', ["lp_magic: version magic '6.1.0-55-amd64 SMP' should be '6.1.0-56-amd64 SMP'"], 'WrongKernel'],
    ['lp_sym', 'ENOENT', ['lp_sym: Unknown symbol foo_bar (err -2)'], 'UnresolvedSymbol'],
    ['lp_klp', 'EINVAL', ["livepatch: symbol 'no_such_fn' not found in symbol table"], 'UnresolvedSymbol'],
    ['lp_fmt', 'ENOEXEC', [], 'CorruptModule'],
    ['lp_exist', 'EEXIST', [], 'AlreadyLoaded'],
    ['lp_cb', 'ENODEV', ["livepatch: pre-patch callback failed for object 'vmlinux'"], 'LoadFailed'],
    // 6.1's module_sig_check under sig_enforce (unsigned, or a key not in the kernel's keyrings), and under lockdown.
    ['lp_unsigned', 'EKEYREJECTED', ['Loading of unsigned module is rejected'], 'SignatureRequired'],
    ['lp_nokey', 'EKEYREJECTED', ['Loading of module with unavailable key is rejected'], 'SignatureRequired'],
    ['lp_lockdown', 'EPERM', ['Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7'], 'SignatureRequired'],
  ];
  fake.log('unrelated: an older record that must not be blamed: Unknown symbol old_one');
  for (const [name, errno, log, kind] of cases) {
    fake.behaviours.set(name, { insertErrno: errno, log });
    await assert.rejects(kernel.load(livepatchFile(name)), (err) => {
      assert.ok(isSplicedError(err, kind), `${name}: expected ${kind}, got ${String(err)}`);
      assert.ok(!err.message.includes('old_one'), err.message);
      assert.deepEqual(err.details.kernelLog, log);
      return true;
    });
  }
});

test('revert: an unknown patch is PatchNotLoaded; a livepatch module left after its patch was freed is unloaded', async () => {
  await assert.rejects(kernel.revert('nothing_here'), isKind('PatchNotLoaded'));
  await kernel.load(livepatchFile('lp_a'));
  fake.behaviours.set('lp_r', { replace: true });
  await kernel.load(livepatchFile('lp_r'));
  assert.equal(fake.moduleLoaded('lp_a'), false);
  await assert.rejects(kernel.revert('lp_a'), isKind('PatchNotLoaded'));
});

test('a disable that stalls is reversed: the patch stays applied and loaded, the blockers are named', async () => {
  fake.behaviours.set('lp_d', { stallDisable: true });
  await kernel.load(livepatchFile('lp_d'));
  fake.addTask(50, 'sleeper', 1, ['patched_fn+0x10/0x20']);
  await assert.rejects(kernel.revert('lp_d', { transitionTimeoutMs: 100 }), (err) => {
    assert.ok(isSplicedError(err, 'TransitionStalled'));
    assert.match(err.message, /could not be disabled .* re-enabled and stays applied.*sleeper \(pid 50, tid 50\) in patched_fn/);
    assert.equal(err.details.reversed, true);
    return true;
  });
  const [patch] = await kernel.list();
  assert.equal(patch.enabled, true);
  assert.equal(patch.transition, false);
  assert.equal(fake.moduleLoaded('lp_d'), true);
});
