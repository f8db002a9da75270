import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SplicedError } from '../../../src/errors';
import { FAKE_IDENTITY, writeModule } from './fake-kernel';
import { createEngine, fileInput, incoming, newMachine, startEngine } from './harness';

describe('apply', () => {
  it('applies what it was given, never the file under that name now (replaced while the job waited)', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    machine.kernel.delayMs = 100;
    const first = engine.apply(fileInput(writeModule(incoming(machine), { name: 'first' })), { origin: 'dbus' });
    const file = writeModule(incoming(machine), { name: 'original' });
    const queued = engine.apply(fileInput(file), { origin: 'dbus' });
    fs.renameSync(writeModule(incoming(machine), { name: 'replacement' }), file);
    await Promise.all([first.done, queued.done]);
    assert.equal(queued.state, 'succeeded', queued.error?.message);
    assert.equal(queued.target, file);
    assert.deepEqual(machine.kernel.actions, ['load first', 'load original']);
  });

  it('loads the module, records it on top of the stack with its metadata, and emits patch-applied', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const applied: string[] = [];
    engine.on('patch-applied', (p) => applied.push(p.name));
    const file = writeModule(incoming(machine), {
      name: 'splice-cve-1',
      description: 'fix a leak',
      fields: { 'spliced.cves': ['CVE-2025-0001, CVE-2025-0002'], 'spliced.version': ['6.1.159-1'] },
      functions: ['tcp_v4_rcv'],
    });
    const job = await engine.apply(fileInput(file), { origin: 'tool' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.equal(job.progress, 100);
    const patch = job.result!.patches[0];
    assert.equal(patch.name, 'splice_cve_1');
    assert.equal(patch.state, 'applied');
    assert.equal(patch.stackPosition, 1);
    assert.deepEqual(patch.cves, ['CVE-2025-0001', 'CVE-2025-0002']);
    assert.equal(patch.version, '6.1.159-1');
    assert.equal(patch.description, 'fix a leak');
    assert.deepEqual(patch.functions, [{ object: 'vmlinux', name: 'tcp_v4_rcv', sympos: 0 }]);
    assert.equal(patch.kernelBuildId, FAKE_IDENTITY.buildId);
    assert.deepEqual(applied, ['splice_cve_1']);
    assert.deepEqual(machine.kernel.actions, ['load splice_cve_1']);
    assert.deepEqual(
      engine.history().map((e) => e.kind),
      ['applied'],
    );
    assert.equal(engine.getPatch('splice_cve_1').id, patch.id);
  });

  it('refuses a module that is not a livepatch, or is for another kernel release or build, without loading it', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const cases: Array<[Parameters<typeof writeModule>[1], string]> = [
      [{ name: 'plain', livepatch: false }, 'NotLivepatchModule'],
      [{ name: 'old', release: '6.1.0-55-amd64' }, 'WrongKernel'],
      [{ name: 'otherbuild', fields: { 'spliced.kernel_build_id': ['ffff'] } }, 'WrongKernel'],
    ];
    for (const [module, kind] of cases) {
      const job = await engine.apply(fileInput(writeModule(incoming(machine), module)), { origin: 'dbus' }).done;
      assert.equal(job.state, 'failed');
      assert.equal(job.error?.kind, kind, module.name);
    }
    assert.deepEqual(machine.kernel.actions, []);
    assert.deepEqual(engine.list(), []);
    assert.deepEqual(fs.readdirSync(path.join(machine.dir, 'modules')), [], 'refused files leave no copy behind');
    assert.deepEqual(
      engine.history().map((e) => [e.kind, e.patchName, e.reason?.split(':')[0]]),
      [
        ['failed', 'otherbuild', 'WrongKernel'],
        ['failed', 'old', 'WrongKernel'],
        ['failed', 'plain', 'NotLivepatchModule'],
      ],
      'the history says why each file was refused',
    );
  });

  it('names the file the caller gave in errors, not the stored copy', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const file = path.join(incoming(machine), 'garbage.ko');
    fs.writeFileSync(file, 'not json, not elf');
    const job = await engine.apply(fileInput(file), { origin: 'dbus' }).done;
    assert.equal(job.error?.kind, 'CorruptModule');
    assert.match(job.error!.message, /garbage\.ko/);
    assert.equal(job.error?.details.path, file);
  });

  it('records a load the kernel refused as failed, with the reason in history and a patch-failed event', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const failures: string[] = [];
    engine.on('patch-failed', (f) => failures.push(`${f.patch?.name}: ${f.error.kind}`));
    machine.kernel.failNext = new SplicedError('UnresolvedSymbol', 'needs symbol foo');
    const job = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'needs_foo' })), { origin: 'dbus' }).done;
    assert.equal(job.error?.kind, 'UnresolvedSymbol');
    assert.deepEqual(failures, ['needs_foo: UnresolvedSymbol']);
    const [patch] = engine.list();
    assert.equal(patch.state, 'failed');
    assert.equal(patch.stackPosition, null);
    assert.deepEqual(patch.lastError, { kind: 'UnresolvedSymbol', message: 'needs symbol foo' });
    assert.match(engine.history()[0].reason ?? '', /UnresolvedSymbol/);
  });

  it('refuses a second module with the name of a loaded livepatch, naming the patch that has it', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const first = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'same' })), { origin: 'dbus' }).done;
    const second = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'same', description: 'v2' })), {
      origin: 'dbus',
    }).done;
    assert.equal(second.error?.kind, 'AlreadyLoaded');
    assert.equal(second.error?.details.patchId, first.result!.patches[0].id);
  });

  it('marks patches an atomic-replace patch replaced as superseded and drops them from the stack', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    await engine.apply(fileInput(writeModule(incoming(machine), { name: 'p1' })), { origin: 'dbus' }).done;
    await engine.apply(fileInput(writeModule(incoming(machine), { name: 'cumulative', replaces: ['p1'] })), { origin: 'dbus' }).done;
    const byName = new Map(engine.list().map((p) => [p.name, p]));
    assert.equal(byName.get('p1')!.state, 'superseded');
    assert.equal(byName.get('p1')!.stackPosition, null);
    assert.equal(byName.get('cumulative')!.state, 'applied');
  });
});

describe('the job queue', () => {
  it('runs one kernel action at a time, in the order the jobs were created', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    machine.kernel.delayMs = 20;
    const jobs = ['a', 'b', 'c'].map((name) =>
      engine.apply(fileInput(writeModule(incoming(machine), { name })), { origin: 'dbus' }),
    );
    assert.equal(engine.status().state, 'busy');
    assert.deepEqual(
      engine.jobs().map((j) => j.id),
      jobs.map((j) => j.id),
    );
    await Promise.all(jobs.map((j) => j.done));
    assert.equal(machine.kernel.maxConcurrent, 1);
    assert.deepEqual(machine.kernel.actions, ['load a', 'load b', 'load c']);
    assert.deepEqual(
      engine.list().map((p) => [p.name, p.stackPosition]),
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ],
    );
    assert.equal(engine.status().state, 'idle');
  });

  it('reports progress and finishes each job exactly once', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const job = engine.apply(fileInput(writeModule(incoming(machine), { name: 'p' })), { origin: 'dbus' });
    const progress: number[] = [];
    let finished = 0;
    job.on('changed', (j) => progress.push(j.progress));
    job.on('finished', () => finished++);
    await job.done;
    assert.equal(finished, 1);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
    );
    assert.equal(progress.at(-1), 100);
  });
});

describe('revert', () => {
  async function threeApplied() {
    const machine = newMachine();
    const running = await startEngine(machine);
    for (const name of ['bottom', 'middle', 'top']) {
      await running.engine.apply(fileInput(writeModule(incoming(machine), { name })), { origin: 'dbus' }).done;
    }
    machine.kernel.actions.length = 0;
    return { machine, ...running };
  }

  it('reverts the topmost patch', async () => {
    const { machine, engine } = await threeApplied();
    const job = await engine.revert('top').done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.deepEqual(machine.kernel.actions, ['revert top']);
    assert.equal(engine.getPatch('top').state, 'reverted');
    assert.deepEqual(
      engine.status().applied.map((id) => engine.getPatch(id).name),
      ['bottom', 'middle'],
    );
  });

  it('refuses to revert a patch with live patches above it, naming them topmost first', async () => {
    const { machine, engine } = await threeApplied();
    const failures: string[] = [];
    engine.on('patch-failed', (f) => failures.push(`${f.patch?.name}: ${f.error.kind}`));
    const job = await engine.revert('bottom').done;
    assert.equal(job.error?.kind, 'RevertOrder');
    assert.deepEqual(failures, ['bottom: RevertOrder']);
    assert.deepEqual(job.error?.details.mustRevertFirst, [engine.getPatch('top').id, engine.getPatch('middle').id]);
    assert.match(job.error!.message, /top.*middle/);
    assert.deepEqual(machine.kernel.actions, []);
  });

  it('supersededBy retires a patch out of order only for a live patch above it, and records it superseded', async () => {
    const { machine, engine } = await threeApplied();
    const refused = await engine.revert('middle', { supersededBy: engine.getPatch('bottom').id }).done;
    assert.equal(refused.error?.kind, 'InvalidArgument');
    assert.deepEqual(machine.kernel.actions, []);
    const job = await engine.revert('bottom', { supersededBy: engine.getPatch('top').id }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.deepEqual(machine.kernel.actions, ['revert bottom']);
    assert.equal(engine.getPatch('bottom').state, 'superseded');
    assert.deepEqual(engine.status().applied.map((id) => engine.getPatch(id).name), ['middle', 'top']);
  });

  it('with downTo reverts everything above first, topmost first', async () => {
    const { machine, engine } = await threeApplied();
    const reverted: string[] = [];
    engine.on('patch-reverted', (p) => reverted.push(p.name));
    const job = await engine.revert(engine.getPatch('middle').id, { downTo: true }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.deepEqual(machine.kernel.actions, ['revert top', 'revert middle']);
    assert.deepEqual(reverted, ['top', 'middle']);
    assert.deepEqual(
      job.result!.patches.map((p) => p.name),
      ['top', 'middle'],
    );
    assert.equal(engine.getPatch('bottom').state, 'applied');
  });

  it('keeps a patch applied when the kernel cannot revert it, and says why', async () => {
    const { machine, engine } = await threeApplied();
    machine.kernel.failNext = new SplicedError('TransitionStalled', 'task 42 (kworker) blocks the transition');
    const job = await engine.revert('top').done;
    assert.equal(job.error?.kind, 'TransitionStalled');
    assert.equal(engine.getPatch('top').state, 'applied');
    assert.equal(engine.getPatch('top').stackPosition, 3);
    assert.match(engine.history()[0].reason ?? '', /revert: TransitionStalled/);
  });

  it('answers NoSuchPatch for an unknown id and InvalidArgument for a patch that is not applied', async () => {
    const { engine } = await threeApplied();
    assert.equal((await engine.revert('nope').done).error?.kind, 'NoSuchPatch');
    await engine.revert('top').done;
    assert.equal((await engine.revert('top').done).error?.kind, 'InvalidArgument');
    assert.throws(() => engine.getPatch('nope'), (err: SplicedError) => err.kind === 'NoSuchPatch');
  });
});

describe('status', () => {
  it('reports the effective version from the applied patches and falls back after a revert', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    assert.equal(engine.status().effectiveVersion, '6.1.158-1');
    const versioned = (name: string, version: string) =>
      writeModule(incoming(machine), { name, fields: { 'spliced.version': [version] } });
    await engine.apply(fileInput(versioned('fix159', '6.1.159-1')), { origin: 'dbus' }).done;
    await engine.apply(fileInput(versioned('fix160', '6.1.160-1')), { origin: 'dbus' }).done;
    assert.equal(engine.status().effectiveVersion, '6.1.160-1');
    await engine.revert('fix160').done;
    assert.equal(engine.status().effectiveVersion, '6.1.159-1');
  });

  it('requires a reboot when a patch is disabled in the kernel but its module stays loaded', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    await engine.apply(fileInput(writeModule(incoming(machine), { name: 'stuck' })), { origin: 'dbus' }).done;
    assert.equal(engine.status().rebootRequired, false);
    machine.kernel.live.get('stuck')!.enabled = false;
    machine.kernel.failNext = new SplicedError('PatchNotLoaded', 'cannot unload');
    await engine.revert('stuck').done;
    const status = engine.status();
    assert.equal(status.rebootRequired, true);
    assert.match(status.rebootReasons[0], /stuck is disabled but its module is still loaded/);
  });
});

describe('engine lifecycle', () => {
  it('answers reads while starting, and runs no job before the boot sequence is done', async () => {
    const machine = newMachine();
    const { engine } = await createEngine(machine);
    assert.equal(engine.status().state, 'starting');
    assert.deepEqual(engine.list(), []);
    const job = engine.apply(fileInput(writeModule(incoming(machine), { name: 'early' })), { origin: 'dbus' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(job.state, 'queued');
    assert.deepEqual(machine.kernel.actions, []);
    await engine.start();
    assert.equal((await job.done).state, 'succeeded');
  });

  it('stop() lets the running job finish, refuses the queued ones, and never unloads patches', async () => {
    const machine = newMachine();
    const { engine, store } = await startEngine(machine);
    machine.kernel.delayMs = 30;
    const running = engine.apply(fileInput(writeModule(incoming(machine), { name: 'a' })), { origin: 'dbus' });
    const queued = engine.apply(fileInput(writeModule(incoming(machine), { name: 'b' })), { origin: 'dbus' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await engine.stop();
    assert.equal(running.state, 'succeeded');
    assert.equal(queued.state, 'failed');
    assert.match(queued.error!.message, /stopping/);
    assert.deepEqual(machine.kernel.actions, ['load a']);
    assert.equal(machine.kernel.live.size, 1);
    assert.notEqual(store.lastSessionOfBoot(machine.bootId)!.cleanStopAt, null);
  });
});
