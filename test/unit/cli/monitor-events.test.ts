// The monitor's pure mappings: spliced's signals → events, events → line / JSON / notification (src/cli/monitor/).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eventOfSignal, NO_REBOOT, nextRebootState, rebootEvent, withPatchDetails } from '../../../src/cli/monitor/events';
import { eventJson, eventLine, notificationOf } from '../../../src/cli/monitor/render';

const AT = new Date('2026-11-30T10:00:00.000Z');
const BOTH = { actions: true, markup: true };

it('a signal of the wrong shape or an unknown member is no event', () => {
  assert.equal(eventOfSignal('PatchApplied', 's', ['a'], AT), null);
  assert.equal(eventOfSignal('PatchFailed', 'ss', ['a', 'b'], AT), null);
  assert.equal(eventOfSignal('Finished', 'sass', [], AT), null);
  assert.deepEqual(eventOfSignal('PatchFailed', 'sssss', ['', '', '/x.ko', 'org.spliced.Spliced1.Error.Busy', 'busy'], AT), {
    event: 'failed', at: AT, id: null, name: null, target: '/x.ko', errorKind: 'Busy', errorName: 'org.spliced.Spliced1.Error.Busy', errorMessage: 'busy',
  });
});

it('GetPatch adds CVEs, description and version to applied; mistyped values are left out', () => {
  const e = eventOfSignal('PatchApplied', 'ss', ['abc', 'lp_abc'], AT)!;
  assert.deepEqual(withPatchDetails(e, { cves: ['CVE-1', 7], description: 'd', version: '' }), { ...e, cves: ['CVE-1'], description: 'd', version: null });
  assert.deepEqual(withPatchDetails(e, { cves: 'CVE-1' }), e);
});

it('reboot required: an event when it becomes true or its reasons change, none when it stays or clears', () => {
  const on = nextRebootState(NO_REBOOT, { RebootRequired: true, RebootReasons: ['r1'] });
  assert.deepEqual(rebootEvent(NO_REBOOT, on, AT), { event: 'reboot-required', at: AT, reasons: ['r1'] });
  assert.equal(rebootEvent(on, nextRebootState(on, { EffectiveVersion: 'x' }), AT), null);
  const more = nextRebootState(on, { RebootReasons: ['r1', 'r2'] });
  assert.deepEqual(more, { required: true, reasons: ['r1', 'r2'] });
  assert.deepEqual(rebootEvent(on, more, AT)?.event, 'reboot-required');
  assert.equal(rebootEvent(more, nextRebootState(more, { RebootRequired: false, RebootReasons: [] }), AT), null);
});

it('lines and JSON: one line each, control characters flattened', () => {
  const e = eventOfSignal('PatchReverted', 'ss', ['abc', 'lp\nabc'], AT)!;
  assert.equal(eventLine(e), '2026-11-30T10:00:00.000Z reverted abc (lp abc)');
  assert.equal(eventJson(e), '{"event":"reverted","at":"2026-11-30T10:00:00.000Z","id":"abc","name":"lp\\nabc"}');
  assert.equal(eventLine({ event: 'spliced-started', at: AT }), '2026-11-30T10:00:00.000Z spliced-started');
});

it('notifications: spliced starting or stopping is none; long text is clipped; a failure without a patch has no details', () => {
  assert.equal(notificationOf({ event: 'spliced-stopped', at: AT }, BOTH), null);
  const failed = eventOfSignal('PatchFailed', 'sssss', ['', '', '/x', 'org.spliced.Spliced1.Error.LoadFailed', 'm'.repeat(5000)], AT)!;
  const n = notificationOf(failed, BOTH)!;
  assert.equal(n.body.length, 1000);
  assert.ok(n.body.endsWith('…'));
  assert.deepEqual(n.actions, []);
  assert.equal(n.urgency, 2);
  const named = eventOfSignal('PatchFailed', 'sssss', ['abc', 'lp_abc', '/x.ko', 'org.spliced.Spliced1.Error.LoadFailed', 'm'], AT)!;
  assert.equal(notificationOf(named, BOTH)!.body, 'm\nPatch abc (lp_abc)');
  assert.deepEqual(notificationOf(named, BOTH)!.actions, ['default', 'Show details', 'details', 'Show details']);
  assert.deepEqual(notificationOf(named, { actions: false, markup: false })!.actions, []);
});
