import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SplicedError } from '../../../src/errors';
import { FakeKernel, FAKE_IDENTITY, writeModule } from './fake-kernel';
import { createEngine, fileInput, incoming, newMachine, reboot, startEngine, type Machine } from './harness';

async function applyAll(machine: Machine, names: string[]) {
  const running = await startEngine(machine);
  for (const name of names) {
    const job = await running.engine.apply(fileInput(writeModule(incoming(machine), { name })), { origin: 'dbus' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
  }
  return running;
}

/** Apply, then end the boot cleanly (the daemon is stopped by systemd before the reboot). */
async function applyAndStopCleanly(machine: Machine, names: string[]) {
  const running = await applyAll(machine, names);
  await running.engine.stop();
  return running;
}

/** Reboot into a boot whose reapply of the second patch never returns (the machine dies in the kernel); start it. */
async function rebootAndDieDuringSecondReapply(previous: Machine): Promise<Machine> {
  const machine = reboot(previous);
  machine.kernel.load = (async (file: string) => {
    if (machine.kernel.actions.length === 1) machine.kernel.hangNext = 'after-kernel';
    return FakeKernel.prototype.load.call(machine.kernel, file);
  }) as FakeKernel['load'];
  void startEngine(machine);
  await new Promise((resolve) => setTimeout(resolve, 50));
  return machine;
}

describe('boot reapply', () => {
  it('reapplies the recorded stack of this kernel build in recorded order before start() returns', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a', 'b', 'c']);
    const second = reboot(first);
    const { engine, report } = await startEngine(second);
    assert.deepEqual(second.kernel.actions, ['load a', 'load b', 'load c']);
    assert.deepEqual(report.reapplied.map((id) => engine.getPatch(id).name), ['a', 'b', 'c']);
    assert.deepEqual(engine.list().map((p) => p.state), ['applied', 'applied', 'applied']);
    assert.equal(engine.history()[0].kind, 'reapplied-at-boot');
  });

  it('leaves patches that are already loaded alone (a daemon restart in the same boot)', async () => {
    const machine = newMachine();
    await applyAll(machine, ['a', 'b']);
    machine.kernel.actions.length = 0;
    const { report, engine } = await startEngine(machine);
    assert.deepEqual(machine.kernel.actions, []);
    assert.equal(report.alreadyLoaded.length, 2);
    assert.equal(engine.status().applied.length, 2);
  });

  it('keeps patches of another kernel build, marked not applicable and not loaded', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a']);
    const otherBuild = new FakeKernel({ ...FAKE_IDENTITY, buildId: 'ffff0000' });
    const second = reboot(first, otherBuild);
    const { engine } = await startEngine(second);
    assert.deepEqual(otherBuild.actions, []);
    const [patch] = engine.list();
    assert.equal(patch.state, 'not-applicable');
    assert.equal(patch.stackPosition, 1);
    // Back on the original kernel, it is reapplied.
    const third = reboot(second);
    await startEngine(third);
    assert.deepEqual(third.kernel.actions, ['load a']);
  });

  it('stops at the first patch that fails to reapply and reports why for each one left out', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a', 'b', 'c']);
    const second = reboot(first);
    second.kernel.load = (async (file: string) => {
      if (file.length > 0 && second.kernel.actions.length === 1) {
        throw new SplicedError('LoadFailed', 'Invalid module format');
      }
      return FakeKernel.prototype.load.call(second.kernel, file);
    }) as FakeKernel['load'];
    const { engine } = await startEngine(second);
    assert.deepEqual(second.kernel.actions, ['load a']);
    const [a, b, c] = engine.list();
    assert.equal(a.state, 'applied');
    assert.equal(b.state, 'not-loaded');
    assert.match(b.stateReason!, /reapply failed: LoadFailed/);
    assert.equal(c.state, 'not-loaded');
    assert.match(c.stateReason!, new RegExp(`because ${b.id} \\(b\\) below it is not loaded`));
  });

  it('refuses a stored module whose bytes no longer match its sha256: not loaded, reported, the rest follows the rules', async () => {
    const first = newMachine();
    const running = await applyAndStopCleanly(first, ['a', 'b', 'c']);
    const b = running.engine.list()[1];
    // A damaged disk: the stored copy of b changed under its name.
    const stored = path.join(first.dir, 'modules', `${running.store.patch(b.id)!.sha256}.ko`);
    fs.writeFileSync(stored, fs.readFileSync(stored, 'utf8').replace('"b"', '"x"'));
    const second = reboot(first);
    const { engine, report } = await startEngine(second);
    assert.deepEqual(second.kernel.actions, ['load a'], 'the damaged copy is never handed to the kernel');
    assert.match(report.notLoaded.get(b.id)!, /^reapply failed: CorruptModule: the stored copy of b \(\w+\) does not match its sha256/);
    const [, bAfter, c] = engine.list();
    assert.equal(bAfter.state, 'not-loaded');
    assert.equal(c.state, 'not-loaded');
    const failed = engine.history().find((e) => e.kind === 'failed' && e.patchId === b.id);
    assert.match(failed?.reason ?? '', /CorruptModule/);
  });
});

describe('kill switch', () => {
  it('reapplies nothing, refuses automatic applies, allows explicit ones, and says why in status', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a']);
    const second = reboot(first);
    const reason = 'spliced.disable=1 is on the kernel command line';
    const { engine } = await startEngine(second, { disabledReason: reason });
    assert.deepEqual(second.kernel.actions, []);
    const status = engine.status();
    assert.equal(status.state, 'disabled');
    assert.equal(status.disabledReason, reason);
    assert.equal(engine.list()[0].state, 'not-loaded');
    assert.match(engine.list()[0].stateReason!, /spliced.disable=1/);

    const dropped = await engine.apply(fileInput(writeModule(incoming(second), { name: 'auto' })), { origin: 'drop-dir' }).done;
    assert.equal(dropped.error?.kind, 'Disabled');
    const explicit = await engine.apply(fileInput(writeModule(incoming(second), { name: 'manual' })), { origin: 'dbus' }).done;
    assert.equal(explicit.state, 'succeeded');
    assert.deepEqual(second.kernel.actions, ['load manual']);
  });
});

describe('crash guard', () => {
  it('does not reapply the patch applied last, shortly before an unclean end of the previous boot, and reports it', async () => {
    const first = newMachine();
    await applyAll(first, ['old']);
    const { engine: before } = await startEngine(first); // restart in the same boot: the session that ends badly
    const job = await before.apply(fileInput(writeModule(incoming(first), { name: 'fresh' })), { origin: 'dbus' }).done;
    assert.equal(job.state, 'succeeded');
    // No stop(): the machine crashed.
    const second = reboot(first);
    const { engine, report } = await startEngine(second, { crashGuardWindowMs: 60_000 });
    assert.deepEqual(report.held.map((id) => engine.getPatch(id).name), ['fresh']);
    assert.deepEqual(second.kernel.actions, ['load old']);
    const fresh = engine.getPatch('fresh');
    assert.equal(fresh.state, 'not-loaded');
    assert.match(fresh.stateReason!, /held by the crash guard/);
    assert.deepEqual(engine.status().heldByCrashGuard, report.held);
    assert.ok(engine.history().some((e) => e.kind === 'skipped-by-crash-guard' && e.patchName === 'fresh'));

    // It stays held at the next boot too, even after a clean one, until applied again.
    await engine.stop();
    const third = reboot(second);
    const { engine: later } = await startEngine(third);
    assert.deepEqual(third.kernel.actions, ['load old']);
    assert.equal(later.getPatch('fresh').state, 'not-loaded');
    assert.deepEqual(later.status().heldByCrashGuard, [later.getPatch('fresh').id]);
  });

  it('holds nothing when the last load was longer ago than the window before the last heartbeat', async () => {
    const first = newMachine();
    const { store } = await applyAll(first, ['old']);
    // The daemon stayed alive for ten more minutes, then the machine crashed.
    const session = store.lastSessionOfBoot(first.bootId)!;
    store.markAlive(session.id, new Date(Date.now() + 600_000).toISOString());
    const second = reboot(first);
    const { report } = await startEngine(second, { crashGuardWindowMs: 60_000 });
    assert.deepEqual(report.held, []);
    assert.deepEqual(second.kernel.actions, ['load old']);
  });

  it('a heartbeat that cannot be written (a full disk) is logged and skipped, never thrown: a timer calls it', async () => {
    const { engine, store, logs } = await startEngine(newMachine());
    store.markAlive = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    assert.doesNotThrow(() => engine.heartbeat());
    assert.ok(logs.some((line) => /^warn: heartbeat not recorded: no space left/.test(line)), logs.join('\n'));
  });

  it('holds nothing after a clean stop, and lets an admin apply a held patch again', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a']);
    const second = reboot(first);
    const { report } = await startEngine(second);
    assert.deepEqual(report.held, []);
    assert.deepEqual(second.kernel.actions, ['load a']);

    // Crash right after that reapply: the next boot holds "a"; applying its file again reloads it.
    const third = reboot(second);
    const { engine, report: thirdReport } = await startEngine(third);
    assert.equal(thirdReport.held.length, 1);
    const file = writeModule(incoming(third), { name: 'a' });
    const again = await engine.apply(fileInput(file), { origin: 'dbus' }).done;
    assert.equal(again.state, 'succeeded', again.error?.message);
    assert.equal(engine.getPatch('a').state, 'applied');
    assert.equal(engine.getPatch('a').stateReason, null);
  });

  it('keeps the stack place of a held patch applied again when nothing above it is live', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a', 'b', 'c']);
    const second = await rebootAndDieDuringSecondReapply(first); // the machine dies while "b" is reapplied
    const third = reboot(second);
    const { engine } = await startEngine(third);
    const other = await engine.apply(fileInput(writeModule(incoming(third), { name: 'b', description: 'v2' })), { origin: 'dbus' }).done;
    assert.equal(other.error?.kind, 'AlreadyLoaded', 'another module with the name of a held patch is refused');
    assert.match(other.error!.message, /revert it first/);
    const job = await engine.apply(fileInput(writeModule(incoming(third), { name: 'b' })), { origin: 'dbus' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.deepEqual(
      engine.list().map((p) => [p.name, p.stackPosition, p.state]),
      [
        ['a', 1, 'applied'],
        ['b', 2, 'applied'],
        ['c', 3, 'not-loaded'],
      ],
    );
  });

  it('holds the patch whose boot reapply was cut short by a crash, and what lies above it stays unloaded', async () => {
    const first = newMachine();
    await applyAndStopCleanly(first, ['a', 'b', 'c']);
    // Loading "b" at boot takes the machine down: the reapply never returns.
    const second = await rebootAndDieDuringSecondReapply(first);
    assert.deepEqual(second.kernel.actions, ['load a', 'load b']);

    const third = reboot(second);
    const { engine, report } = await startEngine(third);
    assert.deepEqual(report.held.map((id) => engine.getPatch(id).name), ['b']);
    assert.deepEqual(third.kernel.actions, ['load a']);
    assert.deepEqual(
      engine.list().map((p) => [p.name, p.stackPosition, p.state]),
      [
        ['a', 1, 'applied'],
        ['b', 2, 'not-loaded'],
        ['c', 3, 'not-loaded'],
      ],
    );
    assert.ok(
      engine.history({ patchId: engine.getPatch('b').id }).some((e) => e.kind === 'failed' && /earlier boot/.test(e.reason ?? '')),
    );
  });
});

describe('a damaged database at start', () => {
  it('is moved aside; the record is rebuilt from live sysfs and the module store, and the history says it was lost', async () => {
    const machine = newMachine();
    const before = await applyAll(machine, ['a', 'b']);
    const ids = before.engine.list().map((p) => p.id);
    await before.engine.stop();
    before.store.close();
    fs.writeFileSync(path.join(machine.dir, 'spliced.db'), 'this is not a database '.repeat(500));
    for (const suffix of ['-wal', '-shm']) fs.rmSync(path.join(machine.dir, `spliced.db${suffix}`), { force: true });
    machine.kernel.actions.length = 0;
    const { engine, report } = await startEngine(machine);
    assert.deepEqual(machine.kernel.actions, [], 'nothing was loaded or unloaded');
    assert.deepEqual(report.recovered, ids);
    const list = engine.list();
    assert.deepEqual(list.map((p) => [p.id, p.name, p.state, p.stackPosition]), [
      [ids[0], 'a', 'applied', 1],
      [ids[1], 'b', 'applied', 2],
    ]);
    assert.deepEqual(engine.status().applied, ids);
    const lost = engine.history().find((e) => e.kind === 'history-lost');
    assert.match(lost?.reason ?? '', /^the database was damaged .* moved to .*spliced\.db\.corrupt-\d{8}T\d{6}Z; rebuilt from \/sys\/kernel\/livepatch and the module store: 2 live patches recorded; earlier history is in the moved file$/);
    assert.ok(fs.readdirSync(machine.dir).some((f) => f.startsWith('spliced.db.corrupt-')));
  });
});

describe('a start that fails', () => {
  it('shows State failed with the reason, and refuses jobs until spliced is restarted', async () => {
    const machine = newMachine();
    const { engine, store } = await createEngine(machine);
    store.startSession = () => {
      throw new Error('database or disk is full');
    };
    await assert.rejects(engine.start(), /disk is full/);
    const status = engine.status();
    assert.equal(status.state, 'failed');
    assert.equal(status.disabledReason, 'start-up failed: database or disk is full');
    const job = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'a' })), { origin: 'dbus' }).done;
    assert.equal(job.state, 'failed');
    assert.match(job.error!.message, /^spliced could not start: database or disk is full; fix the cause and restart spliced/);
    assert.deepEqual(machine.kernel.actions, []);
  });
});

