// Per-caller limits: a D-Bus caller (by uid) may have at most max_queued_jobs_per_caller jobs queued or running; one
// more is LimitExceeded, before polkit is asked, and the engine is not touched. Trusted root is not limited.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { patchRecord } from './fake-engine';
import { busctl, managerError, startDaemon, type Daemon } from './harness';

const MANAGER = ['org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager'];

describe('Manager: jobs per caller', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ maxQueuedJobsPerCaller: 2 });
    d.engine.stepMs = 2_000;
    d.engine.patches = [patchRecord('aaaaaaaaaaaa', { stackPosition: 1 })];
  });
  after(() => d.stop());

  it('a third job of the same uid while two are unfinished is LimitExceeded', async () => {
    for (const target of [d.file('one.ko'), d.file('two.ko')]) {
      const r = await busctl(d.bus.address, ['call', ...MANAGER, 'Apply', 'sa{sv}', target, '0']);
      assert.equal(r.code, 0, r.stderr);
    }
    const asked = d.authority.requests.length;
    const refused = await managerError(d.bus.address, 'Revert', ['aaaaaaaaaaaa', '{}']);
    assert.equal(refused.name, 'org.spliced.Spliced1.Error.LimitExceeded');
    assert.match(refused.message, /^uid 0 already has 2 jobs queued or running \(at most 2\); wait for one to finish$/);
    assert.equal(d.engine.calls.length, 2);
    assert.equal(d.authority.requests.length, asked, 'polkit was not asked for the refused call');
  });
});
