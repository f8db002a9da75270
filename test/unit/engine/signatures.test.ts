// When the kernel loads only signed modules (lockdown, sig_enforce): what cannot load is refused early and by name —
// a source patch without a signing key before its build, an unsigned module before the kernel is asked — and the
// status says why. The kernel's own verdict on a signature is tested in test/unit/kernel and in the guest.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DropDir } from '../../../src/sources/drop-dir';
import type { QuarantineReason } from '../../../src/sources/quarantine';
import { FakeBuilder, samplePatch } from './fake-builder';
import { writeModule } from './fake-kernel';
import { fileInput, incoming, newMachine, startEngine, type StartOptions } from './harness';

const INTEGRITY = { required: true, lockdown: 'integrity', sigEnforce: false } as const;
const SIG_ENFORCE = { required: true, lockdown: 'none', sigEnforce: true } as const;

async function lockedDown(policy: typeof INTEGRITY | typeof SIG_ENFORCE, options: StartOptions = {}) {
  const machine = newMachine();
  machine.kernel.policy = { ...policy };
  const builder = new FakeBuilder();
  const running = await startEngine(machine, { builder, ...options });
  return { machine, builder, ...running };
}

function patchFile(dir: string): string {
  const file = path.join(dir, 'fix.patch');
  fs.writeFileSync(file, samplePatch());
  return file;
}

describe('module signatures required', () => {
  for (const [why, policy] of [['lockdown integrity', INTEGRITY], ['sig_enforce', SIG_ENFORCE]] as const) {
    it(`${why}, no signing key: a source patch is refused with SignatureRequired before any build`, async () => {
      const { machine, builder, engine } = await lockedDown(policy);
      const job = await engine.apply(fileInput(patchFile(incoming(machine))), { origin: 'dbus' }).done;
      assert.equal(job.state, 'failed');
      assert.equal(job.error?.kind, 'SignatureRequired');
      assert.match(job.error!.message, policy.sigEnforce ? /module\.sig_enforce/ : /lockdown: integrity/);
      assert.equal(builder.calls.length, 0, 'no build started');
      assert.deepEqual(machine.kernel.actions, []);
    });
  }

  it('with a signing key, the patch is built (and signed by the builder) and applied', async () => {
    const { machine, builder, engine } = await lockedDown(INTEGRITY, { signingKey: '/var/lib/dkms/mok.key' });
    builder.outcome = () => ({ name: 'built_signed', signed: true });
    const job = await engine.apply(fileInput(patchFile(incoming(machine))), { origin: 'dbus' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.equal(builder.calls.length, 1);
    assert.deepEqual(machine.kernel.actions, ['load built_signed']);
  });

  it('an unsigned module is refused with SignatureRequired before the kernel is asked, and the refusal is in the history', async () => {
    const { machine, engine } = await lockedDown(SIG_ENFORCE);
    const job = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'unsigned_lp' })), { origin: 'dbus' }).done;
    assert.equal(job.error?.kind, 'SignatureRequired');
    assert.match(job.error!.message, /is not signed.*module\.sig_enforce/);
    assert.deepEqual(machine.kernel.actions, []);
    const [event] = engine.history();
    assert.equal(event.kind, 'failed');
    assert.match(event.reason ?? '', /^SignatureRequired: /);
  });

  it('a signed module goes to the kernel (which alone knows whether it trusts the key)', async () => {
    const { machine, engine } = await lockedDown(SIG_ENFORCE);
    const job = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'signed_lp', signed: true })), { origin: 'dbus' }).done;
    assert.equal(job.state, 'succeeded', job.error?.message);
    assert.deepEqual(machine.kernel.actions, ['load signed_lp']);
  });

  it('a policy raised while the daemon runs is honoured at the next apply', async () => {
    const machine = newMachine();
    const { engine } = await startEngine(machine, { builder: new FakeBuilder() });
    machine.kernel.policy = { ...SIG_ENFORCE };
    const job = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'late_lp' })), { origin: 'dbus' }).done;
    assert.equal(job.error?.kind, 'SignatureRequired');
  });

  it('the drop directory quarantines a .patch with the reason, unbuilt', async () => {
    const { machine, builder, engine } = await lockedDown(INTEGRITY);
    const drop = path.join(machine.dir, 'drop');
    const quarantine = path.join(machine.dir, 'quarantine');
    fs.mkdirSync(drop);
    patchFile(drop);
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const dropDir = new DropDir({ incoming: drop, quarantine, engine, log: quiet, settleMs: 50, maxBytes: 1 << 20 });
    await dropDir.start();
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(path.join(quarantine, 'fix.patch.reason.json')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await dropDir.idle();
    await dropDir.stop();
    const reason = JSON.parse(fs.readFileSync(path.join(quarantine, 'fix.patch.reason.json'), 'utf8')) as QuarantineReason;
    assert.equal(reason.error.dbusName, 'org.spliced.Spliced1.Error.SignatureRequired');
    assert.equal(builder.calls.length, 0);
  });
});

describe('module signatures not required', () => {
  it('an unsigned module and a source patch without a key go through as before', async () => {
    const machine = newMachine();
    const builder = new FakeBuilder();
    const { engine } = await startEngine(machine, { builder });
    const module = await engine.apply(fileInput(writeModule(incoming(machine), { name: 'plain_lp' })), { origin: 'dbus' }).done;
    assert.equal(module.state, 'succeeded', module.error?.message);
    const patch = await engine.apply(fileInput(patchFile(incoming(machine))), { origin: 'dbus' }).done;
    assert.equal(patch.state, 'succeeded', patch.error?.message);
    assert.equal(builder.calls.length, 1);
  });
});

describe('the status', () => {
  it('reports the kernel policy and the signing key', async () => {
    const { engine } = await lockedDown(INTEGRITY, { signingKey: '/var/lib/dkms/mok.key' });
    assert.deepEqual(engine.status().moduleSignatures, {
      required: true,
      lockdown: 'integrity',
      sigEnforce: false,
      signingKey: '/var/lib/dkms/mok.key',
    });
    assert.equal(engine.status().livepatchSupported, true, 'signed loads are still possible');
  });
});
