// Each point where the daemon can die around a kernel action, then a restart (same boot) or a reboot.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeModule } from './fake-kernel';
import { fileInput, incoming, newMachine, reboot, startEngine, type Machine } from './harness';

/** Start an apply that never returns at `hang`; the daemon "dies" there (we just abandon that engine). */
async function dieDuringApply(machine: Machine, hang: 'before-kernel' | 'after-kernel', name = 'p') {
  const { engine, store } = await startEngine(machine);
  machine.kernel.hangNext = hang;
  const job = engine.apply(fileInput(writeModule(incoming(machine), { name })), { origin: 'dbus' });
  await waitFor(() => job.progress >= 30);
  assert.equal(store.pendingIntents().length, 1, 'the intent is written before the kernel action');
}

async function dieDuringRevert(machine: Machine, hang: 'before-kernel' | 'after-kernel') {
  const { engine, store } = await startEngine(machine);
  const applied = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'p' })), { origin: 'dbus' }).done;
  assert.equal(applied.state, 'succeeded');
  machine.kernel.hangNext = hang;
  engine.revert('p');
  await waitFor(() => store.pendingIntents().length === 1);
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), 'condition not reached');
}

describe('reconciliation after the daemon died (same boot)', () => {
  it('apply: intent written, kernel never acted → recorded as failed, nothing loaded', async () => {
    const machine = newMachine();
    await dieDuringApply(machine, 'before-kernel');
    const { engine, store, report } = await startEngine(machine);
    assert.equal(store.pendingIntents().length, 0);
    assert.equal(report.reconciled.length, 1);
    const patch = engine.getPatch('p');
    assert.equal(patch.state, 'failed');
    assert.equal(patch.stackPosition, null);
    assert.equal(machine.kernel.live.size, 0);
  });

  it('apply: kernel loaded it, outcome missing → recorded as applied on the stack, loaded once', async () => {
    const machine = newMachine();
    await dieDuringApply(machine, 'after-kernel');
    const { engine } = await startEngine(machine);
    const patch = engine.getPatch('p');
    assert.equal(patch.state, 'applied');
    assert.equal(patch.stackPosition, 1);
    assert.deepEqual(machine.kernel.actions, ['load p']);
    assert.match(engine.history()[0].reason ?? '', /kernel finished it/);
  });

  it('apply: still in transition at restart → waits for it to settle, then records it', async () => {
    const machine = newMachine();
    machine.kernel.transitionPolls = 3;
    await dieDuringApply(machine, 'after-kernel');
    machine.kernel.transitionPolls = 3;
    machine.kernel.live.get('p')!.transition = true;
    const { engine } = await startEngine(machine);
    assert.equal(engine.getPatch('p').state, 'applied');
  });

  it('apply: loaded but disabled (the kernel reversed it) → unloaded and recorded as failed', async () => {
    const machine = newMachine();
    await dieDuringApply(machine, 'after-kernel');
    machine.kernel.live.get('p')!.enabled = false;
    const { engine } = await startEngine(machine);
    assert.equal(engine.getPatch('p').state, 'failed');
    assert.deepEqual(machine.kernel.actions, ['load p', 'revert p']);
    assert.equal(machine.kernel.live.size, 0);
  });

  it('revert: intent written, kernel never acted → stays applied, reported', async () => {
    const machine = newMachine();
    await dieDuringRevert(machine, 'before-kernel');
    const { engine, store } = await startEngine(machine);
    assert.equal(store.pendingIntents().length, 0);
    assert.equal(engine.getPatch('p').state, 'applied');
    assert.equal(engine.history()[0].kind, 'reconciled');
  });

  it('revert: disable finished but the module is still loaded → module unloaded, recorded as reverted', async () => {
    const machine = newMachine();
    await dieDuringRevert(machine, 'before-kernel');
    machine.kernel.live.delete('p');
    machine.kernel.leftoverModules.add('p');
    const { engine } = await startEngine(machine);
    assert.equal(engine.getPatch('p').state, 'reverted');
    assert.deepEqual(machine.kernel.actions, ['load p', 'revert p']);
    assert.equal(machine.kernel.leftoverModules.size, 0);
  });

  it('revert: kernel reverted it, outcome missing → recorded as reverted', async () => {
    const machine = newMachine();
    await dieDuringRevert(machine, 'after-kernel');
    const { engine } = await startEngine(machine);
    const patch = engine.getPatch('p');
    assert.equal(patch.state, 'reverted');
    assert.equal(patch.stackPosition, null);
  });
});

describe('reconciliation of intents from an earlier boot', () => {
  it('apply interrupted by a crash → not applied and not reapplied', async () => {
    const first = newMachine();
    await dieDuringApply(first, 'after-kernel');
    const second = reboot(first);
    const { engine } = await startEngine(second);
    assert.equal(engine.getPatch('p').state, 'failed');
    assert.deepEqual(second.kernel.actions, []);
  });

  it('revert interrupted by a crash → recorded as reverted, not reapplied', async () => {
    const first = newMachine();
    await dieDuringRevert(first, 'before-kernel');
    const second = reboot(first);
    const { engine } = await startEngine(second);
    assert.equal(engine.getPatch('p').state, 'reverted');
    assert.deepEqual(second.kernel.actions, []);
  });

  it('a daemon killed during the boot reapply keeps the stack order on restart', async () => {
    const first = newMachine();
    const { engine: before } = await startEngine(first);
    for (const name of ['a', 'b']) await before.apply(fileInput(writeModule(incoming(first), { name })), { origin: 'dbus' }).done;
    await before.stop();
    const second = reboot(first);
    second.kernel.hangNext = 'after-kernel';
    void startEngine(second);
    await waitFor(() => second.kernel.actions.length === 1);
    const { engine } = await startEngine(second);
    assert.deepEqual(second.kernel.actions, ['load a', 'load b']);
    assert.deepEqual(
      engine.list().map((p) => [p.name, p.stackPosition, p.state]),
      [
        ['a', 1, 'applied'],
        ['b', 2, 'applied'],
      ],
    );
  });
});
