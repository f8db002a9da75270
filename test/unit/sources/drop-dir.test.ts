import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { SplicedEngine } from '../../../src/engine';
import { SplicedError } from '../../../src/errors';
import { DropDir } from '../../../src/sources/drop-dir';
import type { QuarantineReason } from '../../../src/sources/quarantine';
import { FakeBuilder, samplePatch } from '../engine/fake-builder';
import { writeModule } from '../engine/fake-kernel';
import { newMachine, startEngine, type Machine, type StartOptions } from '../engine/harness';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function withDropDir(options: StartOptions = {}, before?: (m: Machine, incoming: string) => void) {
  const machine = newMachine();
  const incoming = path.join(machine.dir, 'drop');
  const quarantine = path.join(machine.dir, 'quarantine');
  fs.mkdirSync(incoming);
  before?.(machine, incoming);
  const { engine } = await startEngine(machine, options);
  const dropDir = new DropDir({ incoming, quarantine, engine, log: quiet, settleMs: 50 });
  await dropDir.start();
  return { machine, engine, dropDir, incoming, quarantine };
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
    assert.equal((await first.engine.apply(file, { origin: 'drop-dir' }).done).state, 'succeeded');
    // The daemon dies here; the file is still in the drop directory when it starts again.
    const { engine } = await startEngine(machine);
    const dropDir = new DropDir({ incoming, quarantine: path.join(machine.dir, 'q'), engine, log: quiet, settleMs: 50 });
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
});
