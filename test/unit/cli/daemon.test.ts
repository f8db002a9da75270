// splicectl against the real spliced daemon (src/daemon, real engine and store) on a private bus: the composition
// works end to end on the host, where nothing can be applied. Applying for real is proven in the guest tests.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { NOBODY, run, type RunOptions } from '../bus/harness';
import { splicectlMain } from '../../support/repo';
import { startSplicedDaemon, type SplicedDaemon } from '../../support/spliced-daemon';


describe('splicectl and the real daemon', () => {
  let bus: PrivateBus;
  let daemon: SplicedDaemon;

  const splicectl = (args: string[], options: RunOptions = {}) =>
    run(process.execPath, [splicectlMain(options.uid), ...args], { ...options, env: { SPLICED_BUS_ADDRESS: bus.address } });

  before(async () => {
    bus = await startPrivateBus(shippedPolicy());
    daemon = await startSplicedDaemon(bus.address);
  });
  after(async () => {
    await daemon.remove();
    await bus.stop();
  });

  it('status tells whether this kernel can take livepatches (exit 4 without, 2 with nothing applied)', async () => {
    const supported = existsSync('/sys/kernel/livepatch');
    const r = await splicectl(['status', '--json']);
    assert.equal(r.code, supported ? 2 : 4, r.stderr);
    const status = JSON.parse(r.stdout);
    assert.equal(status.livepatchSupported, supported);
    assert.equal(status.state, 'idle');
    assert.deepEqual(status.appliedPatches, []);
  });

  it('a file that is no module fails the job with CorruptModule and is not recorded as a patch', async () => {
    const r = await splicectl(['apply', '/etc/hostname']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /(^|\n)splicectl: \/etc\/hostname is not a valid kernel module.* \(CorruptModule\)\n$/);
    assert.deepEqual(JSON.parse((await splicectl(['list', '--json'])).stdout), []);
  });

  it('without polkit an unprivileged apply is refused (fails closed), reads still work', async () => {
    const denied = await splicectl(['apply', '/etc/hostname'], { uid: NOBODY });
    assert.equal(denied.code, 77);
    assert.match(denied.stderr, /cannot check authorisation for org\.spliced\.apply with polkit/);
    const list = await splicectl(['list', '--json'], { uid: NOBODY });
    assert.equal(list.code, 0, list.stderr);
    assert.ok(Array.isArray(JSON.parse(list.stdout)));
  });
});
