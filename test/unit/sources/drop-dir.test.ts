import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { Job, SplicedEngine } from '../../../src/engine';
import { SplicedError } from '../../../src/errors';
import { DropDir } from '../../../src/sources/drop-dir';
import type { QuarantineReason } from '../../../src/sources/quarantine';
import { FakeBuilder, samplePatch } from '../engine/fake-builder';
import { writeModule } from '../engine/fake-kernel';
import { createEngine, fileInput, newMachine, startEngine, type Machine, type StartOptions } from '../engine/harness';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The largest file the drop directory takes in these tests. */
const MAX_BYTES = 1024 * 1024;

/** The drop directory's log lines, "level: message". */
function recordingLog(lines: string[]) {
  return {
    info: (_f: object, message: string) => lines.push(`info: ${message}`),
    warn: (_f: object, message: string) => lines.push(`warn: ${message}`),
    error: (_f: object, message: string) => lines.push(`error: ${message}`),
  };
}

async function withDropDir(options: StartOptions = {}, before?: (m: Machine, incoming: string) => void) {
  const machine = newMachine();
  const incoming = path.join(machine.dir, 'drop');
  const quarantine = path.join(machine.dir, 'quarantine');
  fs.mkdirSync(incoming);
  before?.(machine, incoming);
  const { engine } = await startEngine(machine, options);
  const logs: string[] = [];
  const dropDir = new DropDir({ incoming, quarantine, engine, log: recordingLog(logs), settleMs: 50, maxBytes: MAX_BYTES });
  await dropDir.start();
  return { machine, engine, dropDir, incoming, quarantine, logs };
}

function reasonOf(quarantine: string, name: string): QuarantineReason {
  return JSON.parse(fs.readFileSync(path.join(quarantine, `${name}.reason.json`), 'utf8')) as QuarantineReason;
}

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the drop directory');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `check` holds, then until the drop directory is idle. */
async function settled(dropDir: DropDir, check: () => boolean): Promise<void> {
  await waitFor(check);
  await dropDir.idle();
}

function names(engine: SplicedEngine): Array<[string, number | null]> {
  return engine.list().map((p) => [p.name, p.stackPosition]);
}

describe('the drop directory', () => {
  it('applies the files already there in name order and removes each once applied', async () => {
    const { engine, dropDir, incoming } = await withDropDir({}, (_m, dir) => {
      fs.renameSync(writeModule(dir, { name: 'second' }), path.join(dir, '02-second.ko'));
      fs.renameSync(writeModule(dir, { name: 'first' }), path.join(dir, '01-first.ko'));
    });
    await settled(dropDir, () => fs.readdirSync(incoming).length === 0);
    assert.deepEqual(names(engine), [['first', 1], ['second', 2]]);
    assert.equal(engine.list()[0].origin, 'drop-dir');
    await dropDir.stop();
  });

  it('picks up a file renamed into place later, and leaves a file still being written (".name") alone', async () => {
    const builder = new FakeBuilder();
    const { engine, dropDir, incoming } = await withDropDir({ builder });
    const partial = path.join(incoming, '.fix.patch');
    fs.writeFileSync(partial, samplePatch());
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(builder.calls.length, 0, 'a dotfile is not taken');
    fs.renameSync(partial, path.join(incoming, 'fix.patch'));
    await settled(dropDir, () => fs.readdirSync(incoming).length === 0);
    assert.equal(builder.calls.length, 1);
    assert.deepEqual(names(engine), [[`built_${samplePatch().length}`, 1]]);
    await dropDir.stop();
  });

  it('quarantines a file it cannot use, with its reason beside it, and goes on with the next', async () => {
    const builder = new FakeBuilder();
    builder.outcome = new SplicedError('RunPreMismatch', 'ext4_mb_load_buddy_gfp: the source does not match the running code');
    const { engine, dropDir, incoming, quarantine } = await withDropDir({ builder }, (_m, dir) => {
      fs.renameSync(writeModule(dir, { name: 'plain', livepatch: false }), path.join(dir, 'a-plain.ko'));
      fs.writeFileSync(path.join(dir, 'b-notes.txt'), 'hello');
      fs.writeFileSync(path.join(dir, 'c-fix.patch'), samplePatch());
      fs.renameSync(writeModule(dir, { name: 'good' }), path.join(dir, 'd-good.ko'));
    });
    await settled(dropDir, () => fs.readdirSync(incoming).length === 0);
    assert.deepEqual(names(engine).filter(([, pos]) => pos !== null), [['good', 1]]);
    const reasons = Object.fromEntries(
      ['a-plain.ko', 'b-notes.txt', 'c-fix.patch'].map((name) => {
        assert.ok(fs.existsSync(path.join(quarantine, name)), `${name} kept in quarantine`);
        const reason = JSON.parse(fs.readFileSync(path.join(quarantine, `${name}.reason.json`), 'utf8')) as QuarantineReason;
        assert.equal(reason.file, path.join(incoming, name));
        return [name, `${reason.error.dbusName}: ${reason.error.message}`];
      }),
    );
    assert.match(reasons['a-plain.ko'], /^org\.spliced\.Spliced1\.Error\.NotLivepatchModule: /);
    assert.match(reasons['b-notes.txt'], /^org\.spliced\.Spliced1\.Error\.InvalidArgument: b-notes\.txt is neither/);
    assert.match(reasons['c-fix.patch'], /^org\.spliced\.Spliced1\.Error\.RunPreMismatch: ext4_mb_load_buddy_gfp/);
    assert.equal(fs.readFileSync(path.join(quarantine, 'b-notes.txt'), 'utf8'), 'hello', 'nothing lost');
    await dropDir.stop();
  });

  it('keeps an earlier quarantined file of the same name', async () => {
    const { dropDir, incoming, quarantine } = await withDropDir();
    fs.writeFileSync(path.join(incoming, 'x.txt'), 'one');
    await settled(dropDir, () => !fs.existsSync(path.join(incoming, 'x.txt')));
    fs.writeFileSync(path.join(incoming, 'x.txt'), 'two');
    await settled(dropDir, () => !fs.existsSync(path.join(incoming, 'x.txt')));
    const kept = fs.readdirSync(quarantine).filter((f) => !f.endsWith('.reason.json'));
    assert.deepEqual(kept.map((f) => fs.readFileSync(path.join(quarantine, f), 'utf8')).sort(), ['one', 'two']);
    await dropDir.stop();
  });

  it('removes, without loading it again, a file applied before a crash came between the apply and its removal', async () => {
    const machine = newMachine();
    const incoming = path.join(machine.dir, 'drop');
    fs.mkdirSync(incoming);
    const file = writeModule(incoming, { name: 'fix' });
    const first = await startEngine(machine);
    assert.equal((await first.engine.apply(fileInput(file), { origin: 'drop-dir' }).done).state, 'succeeded');
    // The daemon dies here; the file is still in the drop directory when it starts again.
    const { engine } = await startEngine(machine);
    const dropDir = new DropDir({ incoming, quarantine: path.join(machine.dir, 'q'), engine, log: quiet, settleMs: 50, maxBytes: MAX_BYTES });
    await dropDir.start();
    await settled(dropDir, () => !fs.existsSync(file));
    assert.deepEqual(machine.kernel.actions, ['load fix']);
    assert.deepEqual(fs.readdirSync(path.join(machine.dir, 'q')), []);
    await dropDir.stop();
  });

  it('leaves files in place while the kill switch is set, and a file whose build a stop interrupted', async () => {
    const disabled = await withDropDir({ disabledReason: '/etc/spliced/disable exists' }, (_m, dir) => {
      writeModule(dir, { name: 'waits' });
    });
    await disabled.dropDir.idle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await disabled.dropDir.idle();
    assert.equal(fs.readdirSync(disabled.incoming).length, 1);
    assert.deepEqual(fs.readdirSync(disabled.quarantine), []);
    await disabled.dropDir.stop();

    const builder = new FakeBuilder();
    builder.hold = new Promise(() => undefined);
    const stopping = await withDropDir({ builder });
    fs.writeFileSync(path.join(stopping.incoming, 'fix.patch'), samplePatch());
    await waitFor(() => builder.calls.length === 1);
    const stopped = stopping.dropDir.stop();
    await stopping.engine.stop();
    await stopped;
    assert.deepEqual(fs.readdirSync(stopping.incoming), ['fix.patch']);
    assert.deepEqual(fs.readdirSync(stopping.quarantine), []);
  });

  it('leaves a file in place, not in quarantine, when the state directory is full (NoSpace)', async () => {
    const builder = new FakeBuilder();
    builder.outcome = new SplicedError('NoSpace', 'no space left on the device holding /var/lib/spliced');
    const full = await withDropDir({ builder });
    fs.writeFileSync(path.join(full.incoming, 'fix.patch'), samplePatch());
    await settled(full.dropDir, () => builder.calls.length === 1);
    assert.deepEqual(fs.readdirSync(full.incoming), ['fix.patch']);
    assert.deepEqual(fs.readdirSync(full.quarantine), []);
    await full.dropDir.stop();
  });

  it('leaves a file in place, not in quarantine, when spliced could not start (a full disk at start): its apply fails NoSpace', async () => {
    const machine = newMachine();
    const incoming = path.join(machine.dir, 'drop');
    const quarantine = path.join(machine.dir, 'quarantine');
    fs.mkdirSync(incoming);
    const { engine, store } = await createEngine(machine);
    // What ext4 answers right after the filler is deleted, before its journal commits the freed blocks (seen in the guest).
    store.startSession = () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    const dropDir = new DropDir({ incoming, quarantine, engine, log: quiet, settleMs: 50, maxBytes: MAX_BYTES });
    await dropDir.start();
    const created = new Promise<Job>((resolve) => engine.once('job-created', resolve));
    const dropped = path.basename(writeModule(incoming, { name: 'early' }));
    const queued = await created;
    await assert.rejects(engine.start(), { code: 'ENOSPC' });
    const job = await queued.done;
    assert.equal(job.error?.kind, 'NoSpace', "the start's own kind, not Internal");
    assert.match(job.error?.message ?? '', /^spliced could not start: no space left/);
    await dropDir.idle();
    assert.deepEqual(fs.readdirSync(incoming), [dropped]);
    assert.deepEqual(fs.readdirSync(quarantine), []);
    await dropDir.stop();
  });

  it('does not follow a symbolic link: the link is quarantined, what it points to is neither applied nor moved', async () => {
    const { machine, engine, dropDir, incoming, quarantine } = await withDropDir();
    const outside = writeModule(machine.dir, { name: 'elsewhere' });
    fs.symlinkSync(outside, path.join(incoming, 'link.ko'));
    await settled(dropDir, () => !fs.existsSync(path.join(incoming, 'link.ko')));
    assert.deepEqual(machine.kernel.actions, []);
    assert.ok(fs.lstatSync(path.join(quarantine, 'link.ko')).isSymbolicLink(), 'the link itself is kept');
    assert.ok(fs.existsSync(outside), 'its target stays where it was');
    assert.match(reasonOf(quarantine, 'link.ko').error.message, /symbolic link/);
    assert.equal(reasonOf(quarantine, 'link.ko').error.kind, 'InvalidArgument');
    assert.deepEqual(engine.list(), []);
    await dropDir.stop();
  });

  it('refuses a file not owned by root, or writable by group or others', async () => {
    const { machine, dropDir, incoming, quarantine } = await withDropDir({}, (_m, dir) => {
      const foreign = path.join(dir, 'a-foreign.ko');
      fs.renameSync(writeModule(dir, { name: 'foreign' }), foreign);
      fs.chownSync(foreign, 65534, 65534);
      const world = path.join(dir, 'b-world.ko');
      fs.renameSync(writeModule(dir, { name: 'world' }), world);
      fs.chmodSync(world, 0o646);
      const group = path.join(dir, 'c-group.ko');
      fs.renameSync(writeModule(dir, { name: 'group' }), group);
      fs.chmodSync(group, 0o660);
    });
    await settled(dropDir, () => fs.readdirSync(incoming).length === 0);
    assert.deepEqual(machine.kernel.actions, []);
    assert.match(reasonOf(quarantine, 'a-foreign.ko').error.message, /owned by uid 65534, not root/);
    assert.match(reasonOf(quarantine, 'b-world.ko').error.message, /writable by group or others/);
    assert.match(reasonOf(quarantine, 'c-group.ko').error.message, /writable by group or others/);
    assert.equal(reasonOf(quarantine, 'c-group.ko').error.kind, 'InvalidArgument');
    await dropDir.stop();
  });

  it('quarantines a file over the size cap without reading it (a sparse 3 GiB file)', async () => {
    const { machine, dropDir, incoming, quarantine } = await withDropDir();
    const big = path.join(incoming, 'huge.ko');
    const fd = fs.openSync(big, 'w', 0o600);
    fs.ftruncateSync(fd, 3 * 1024 * 1024 * 1024);
    fs.closeSync(fd);
    const started = Date.now();
    await settled(dropDir, () => !fs.existsSync(big));
    assert.ok(Date.now() - started < 5000, 'refused from its size, not read');
    const reason = reasonOf(quarantine, 'huge.ko');
    assert.equal(reason.error.kind, 'InvalidArgument');
    assert.match(reason.error.message, /3221225472 bytes; at most 1048576/);
    assert.deepEqual(machine.kernel.actions, []);
    await dropDir.stop();
  });

  it('quarantines a FIFO named x.ko without blocking the event loop', { timeout: 10_000 }, async () => {
    const { machine, dropDir, incoming, quarantine } = await withDropDir();
    const fifo = path.join(incoming, 'x.ko');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // A writer that holds the FIFO open for 3 s: a blocking read would stall this process that long.
    const writer = spawn('sh', ['-c', 'exec 3<>"$1"; sleep 3', 'sh', fifo], { stdio: 'ignore' });
    let longestStall = 0;
    let last = Date.now();
    const ticker = setInterval(() => {
      longestStall = Math.max(longestStall, Date.now() - last);
      last = Date.now();
    }, 20);
    try {
      await settled(dropDir, () => !fs.existsSync(fifo));
    } finally {
      clearInterval(ticker);
      writer.kill();
    }
    assert.ok(longestStall < 1000, `the event loop stalled for ${longestStall} ms`);
    assert.ok(fs.lstatSync(path.join(quarantine, 'x.ko')).isFIFO());
    assert.match(reasonOf(quarantine, 'x.ko').error.message, /not a regular file/);
    assert.deepEqual(machine.kernel.actions, []);
    await dropDir.stop();
  });

  it('leaves a file it cannot even quarantine, logs it once, goes on with the next, and retries once it changes', async () => {
    const long = `${'n'.repeat(247)}.ko`;
    const { engine, dropDir, incoming, logs } = await withDropDir({}, (_m, dir) => {
      fs.renameSync(writeModule(dir, { name: 'plain', livepatch: false }), path.join(dir, long));
      fs.renameSync(writeModule(dir, { name: 'good' }), path.join(dir, 'zz-good.ko'));
    });
    await settled(dropDir, () => !fs.existsSync(path.join(incoming, 'zz-good.ko')));
    assert.deepEqual(names(engine).filter(([, pos]) => pos !== null), [['good', 1]]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await dropDir.idle();
    assert.ok(fs.existsSync(path.join(incoming, long)), 'left where it was');
    const cannot = () => logs.filter((l) => l.startsWith('error: ') && l.includes('cannot quarantine'));
    assert.equal(cannot().length, 1, logs.join('\n'));
    fs.appendFileSync(path.join(incoming, long), ' ');
    await settled(dropDir, () => cannot().length === 2);
    await dropDir.stop();
  });

  it('removes exactly the file it applied: a replacement written under the same name during the build is applied next', async () => {
    const builder = new FakeBuilder();
    let release!: () => void;
    builder.hold = new Promise((resolve) => (release = resolve));
    const { engine, dropDir, incoming } = await withDropDir({ builder });
    const file = path.join(incoming, 'fix.patch');
    fs.writeFileSync(file, samplePatch('first'));
    await waitFor(() => builder.calls.length === 1);
    fs.writeFileSync(path.join(incoming, '.fix.patch'), samplePatch('second, longer'));
    fs.renameSync(path.join(incoming, '.fix.patch'), file);
    builder.hold = null;
    release();
    await settled(dropDir, () => builder.calls.length === 2 && !fs.existsSync(file));
    assert.deepEqual(
      builder.calls.map((c) => c.patchText),
      [samplePatch('first'), samplePatch('second, longer')],
    );
    assert.equal(engine.list().filter((p) => p.state === 'applied').length, 2);
    await dropDir.stop();
  });

  it('skips quietly a file that is gone by the time it is read, and goes on', async () => {
    const builder = new FakeBuilder();
    let release!: () => void;
    builder.hold = new Promise((resolve) => (release = resolve));
    const { engine, dropDir, incoming, quarantine, logs } = await withDropDir({ builder });
    fs.writeFileSync(path.join(incoming, 'a.patch'), samplePatch('first'));
    await waitFor(() => builder.calls.length === 1);
    const gone = writeModule(incoming, { name: 'gone' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Moved away rather than deleted: chokidar 4 keeps the test process alive after an awaited file is deleted.
    fs.renameSync(gone, path.join(incoming, '..', 'moved-away.ko'));
    builder.hold = null;
    release();
    await settled(dropDir, () => fs.readdirSync(incoming).length === 0);
    assert.deepEqual(names(engine).map(([name]) => name), [`built_${samplePatch('first').length}`]);
    assert.deepEqual(fs.readdirSync(quarantine), []);
    assert.deepEqual(logs.filter((l) => l.startsWith('error: ')), []);
    await dropDir.stop();
  });
});
