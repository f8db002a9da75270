import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SplicedError } from '../../../src/errors';
import { FakeBuilder, samplePatch } from './fake-builder';
import { writeModule } from './fake-kernel';
import { fileInput, incoming, newMachine, startEngine } from './harness';

function dropPatch(dir: string, name: string, text = samplePatch()): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('apply of a source patch', () => {
  it('builds the patch into a module, then applies it; progress runs through both and never goes back', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder });
    const file = dropPatch(incoming(machine), 'fix.patch');
    const job = engine.apply(fileInput(file), { origin: 'dbus' });
    const seen: Array<[number, string]> = [];
    job.on('changed', (j) => seen.push([j.progress, j.status]));
    await job.done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.equal(builder.calls.length, 1);
    assert.equal(builder.calls[0].patchText, samplePatch());
    const [patch] = job.result!.patches;
    assert.equal(patch.name, `built_${samplePatch().length}`);
    assert.equal(patch.state, 'applied');
    assert.deepEqual(machine.kernel.actions, [`load ${patch.name}`]);
    const statuses = seen.map(([, status]) => status);
    assert.ok(statuses.includes('building: compiling fs/proc/meminfo.c'), statuses.join(' | '));
    assert.ok(statuses.some((s) => s.startsWith('loading the module')), statuses.join(' | '));
    const progress = seen.map(([p]) => p);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes back');
    assert.ok(progress.some((p) => p > 0 && p < 60), 'the build fills the first part');
    assert.deepEqual(fs.readdirSync(path.join(machine.dir, 'builds')), [], 'the built module is removed once stored');
  });

  it('builds from the source version the caller names; a module given one is refused before the kernel sees it', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder });
    const built = await engine.apply(fileInput(dropPatch(incoming(machine), 'fix.patch')), { origin: 'dbus', sourceVersion: '6.1.192-2' }).done;
    assert.equal(built.state, 'succeeded', built.error?.message);
    assert.equal(builder.calls[0].sourceVersion, '6.1.192-2');

    const module = writeModule(machine.dir, { name: 'livepatch_ready' });
    const failures: string[] = [];
    engine.on('patch-failed', (f) => failures.push(f.error.kind));
    const refused = await engine.apply(fileInput(module), { origin: 'dbus', sourceVersion: '6.1.192-2' }).done;
    assert.equal(refused.state, 'failed');
    assert.equal(refused.error?.kind, 'InvalidArgument');
    assert.match(refused.error!.message, /not a source patch: a source version applies only to source patches/);
    assert.deepEqual(failures, ['InvalidArgument']);
    assert.deepEqual(machine.kernel.actions, [`load built_${samplePatch().length}`], 'the module was not loaded');
  });

  it('takes a patch by content, whatever its name (a passed file descriptor has none)', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder });
    const job = await engine.apply(fileInput(dropPatch(incoming(machine), 'no-extension')), { origin: 'dbus' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.equal(builder.calls.length, 1);
  });

  it('fails the job with the builder\'s named reason, records it in the history and loads nothing', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    builder.outcome = new SplicedError('UnsafePatch', 'the patch changes the layout of struct foo', { reason: 'struct-layout' });
    const { engine } = await startEngine(machine, { builder });
    const failures: Array<[string | undefined, string]> = [];
    engine.on('patch-failed', (f) => failures.push([f.patch?.id, f.error.kind]));
    const text = samplePatch('bad');
    const file = dropPatch(incoming(machine), 'bad.patch', text);
    const job = await engine.apply(fileInput(file), { origin: 'dbus', requestedBy: 'uid 0' }).done;
    assert.equal(job.state, 'failed');
    assert.equal(job.error?.kind, 'UnsafePatch');
    assert.equal(job.error?.details.reason, 'struct-layout');
    assert.deepEqual(failures, [[undefined, 'UnsafePatch']]);
    assert.deepEqual(machine.kernel.actions, []);
    assert.deepEqual(engine.list(), []);
    const id = createHash('sha256').update(text).digest('hex').slice(0, 12);
    const [event] = engine.history();
    assert.deepEqual(
      [event.kind, event.patchId, event.patchName, event.requestedBy],
      ['failed', id, `spliced_${id}`, 'uid 0'],
    );
    assert.match(event.reason ?? '', /^UnsafePatch: the patch changes the layout of struct foo/);
  });

  it('builds beside the kernel queue: a revert queued after a slow build runs before it', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder });
    const first = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'first' })), { origin: 'dbus' }).done;
    let release!: () => void;
    builder.hold = new Promise((resolve) => (release = resolve));
    const building = engine.apply(fileInput(dropPatch(incoming(machine), 'slow.patch')), { origin: 'dbus' });
    const revert = await engine.revert(first.result!.patches[0].id).done;
    assert.equal(revert.state, 'succeeded', revert.error?.message);
    assert.equal(building.state, 'running', 'still building');
    assert.match(building.status, /^building: /);
    release();
    await building.done;
    assert.equal(building.state, 'succeeded', building.error?.message);
    assert.deepEqual(machine.kernel.actions, ['load first', 'revert first', `load ${building.result!.patches[0].name}`]);
  });

  it('kills a running build when the engine stops, failing its job without touching the kernel', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    builder.hold = new Promise(() => undefined);
    const { engine } = await startEngine(machine, { builder });
    const job = engine.apply(fileInput(dropPatch(incoming(machine), 'fix.patch')), { origin: 'drop-dir' });
    await new Promise((resolve) => setImmediate(resolve));
    await engine.stop();
    assert.equal(builder.calls[0].signal.aborted, true);
    assert.equal(job.state, 'failed');
    assert.equal(job.error?.kind, 'BuildFailed');
    assert.deepEqual(machine.kernel.actions, []);
  });

  it('a restart between a build and its apply applies what was built, without building again; other leftovers go', async () => {
    const machine = newMachine();
    const builds = path.join(machine.dir, 'builds');
    const first = await startEngine(machine, { builder: new FakeBuilder() });
    // A slow load holds the kernel queue, so the built patch is still waiting for it when spliced stops.
    machine.kernel.delayMs = 300;
    const loading = first.engine.apply(fileInput(writeModule(incoming(machine), { name: 'slow' })), { origin: 'dbus' });
    const waiting = first.engine.apply(fileInput(dropPatch(incoming(machine), 'fix.patch')), { origin: 'drop-dir' });
    await new Promise<void>((resolve) => waiting.on('changed', (j) => j.status.startsWith('built;') && resolve()));
    await first.engine.stop();
    await loading.done;
    assert.equal((await waiting.done).state, 'failed');
    machine.kernel.delayMs = 0;
    const [finished] = fs.readdirSync(builds).filter((f) => /^[0-9a-f]{64}\.ko$/.test(f));
    assert.ok(finished, `a finished build is kept: ${fs.readdirSync(builds).join(' ')}`);
    // What a crash leaves besides: a build cut short, and a finished build nobody claimed for over a day.
    fs.writeFileSync(path.join(builds, 'job-7.ko'), 'half a module');
    const unclaimed = path.join(builds, `${'e'.repeat(64)}.ko`);
    fs.writeFileSync(unclaimed, 'built two days ago');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    fs.utimesSync(unclaimed, twoDaysAgo, twoDaysAgo);

    const builder = new FakeBuilder();
    const { engine, logs } = await startEngine(machine, { builder });
    assert.deepEqual(fs.readdirSync(builds), [finished], 'only the finished build of the last day is left at start');
    const job = await engine.apply(fileInput(path.join(incoming(machine), 'fix.patch')), { origin: 'drop-dir' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.equal(builder.calls.length, 0, 'not built again');
    assert.ok(logs.some((l) => l.includes('applied without building again')), logs.join('\n'));
    assert.deepEqual(machine.kernel.actions, ['load slow', `load ${job.result!.patches[0].name}`]);
    assert.deepEqual(fs.readdirSync(builds), [], 'the finished build goes once its apply was tried');
  });

  it('a finished build is kept for its own inputs only: another source version builds again', async () => {
    const machine = newMachine();
    const first = await startEngine(machine, { builder: new FakeBuilder() });
    machine.kernel.delayMs = 300;
    void first.engine.apply(fileInput(writeModule(incoming(machine), { name: 'slow' })), { origin: 'dbus' });
    const waiting = first.engine.apply(fileInput(dropPatch(incoming(machine), 'fix.patch')), { origin: 'dbus' });
    await new Promise<void>((resolve) => waiting.on('changed', (j) => j.status.startsWith('built;') && resolve()));
    await first.engine.stop();
    machine.kernel.delayMs = 0;
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder });
    const job = await engine.apply(fileInput(path.join(incoming(machine), 'fix.patch')), { origin: 'dbus', sourceVersion: '6.1.192-2' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.equal(builder.calls.length, 1);
  });

  it('does not build what comes on its own while the kill switch is set', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder, disabledReason: '/etc/spliced/disable exists' });
    const job = await engine.apply(fileInput(dropPatch(incoming(machine), 'fix.patch')), { origin: 'drop-dir' }).done;
    assert.equal(job.error?.kind, 'Disabled');
    assert.equal(builder.calls.length, 0);
  });

  it('without a builder, refuses a patch with a named error instead of treating it as a module', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine);
    const job = await engine.apply(fileInput(dropPatch(incoming(machine), 'fix.patch')), { origin: 'tool' }).done;
    assert.equal(job.error?.kind, 'InvalidArgument');
    assert.match(job.error!.message, /is a source patch, and this spliced has no builder/);
  });
});
