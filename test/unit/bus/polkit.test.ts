// The real polkit client (PolkitAuthority) against a stand-in org.freedesktop.PolicyKit1 on the private bus: the
// request must be exactly what polkit's CheckAuthorization expects, for the caller's bus name.

import assert from 'node:assert/strict';
import * as dbus from 'dbus-next';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startBus, type BusHandle } from '../../../src/bus';
import { connectBus } from '../../../src/bus/connect';
import { FakeEngine, patchRecord } from './fake-engine';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { busctl, managerError, tempModule } from './harness';

const A_KO = tempModule('a.ko');

interface CheckAuthorizationCall {
  subject: [string, Record<string, dbus.Variant>];
  actionId: string;
  details: Record<string, string>;
  flags: number;
  cancellationId: string;
}

class FakePolkitAuthority extends dbus.interface.Interface {
  readonly calls: CheckAuthorizationCall[] = [];
  answer: [boolean, boolean] = [true, false];
  constructor() {
    super('org.freedesktop.PolicyKit1.Authority');
  }
  CheckAuthorization(
    subject: [string, Record<string, dbus.Variant>],
    actionId: string,
    details: Record<string, string>,
    flags: number,
    cancellationId: string,
  ): unknown[] {
    this.calls.push({ subject, actionId, details, flags, cancellationId });
    return [this.answer[0], this.answer[1], {}];
  }
}
FakePolkitAuthority.configureMembers({
  methods: { CheckAuthorization: { inSignature: '(sa{sv})sa{ss}us', outSignature: '(bba{ss})' } },
});

const POLKIT_POLICY = `
  <policy user="root"><allow own="org.freedesktop.PolicyKit1"/></policy>
  <policy context="default"><allow send_destination="org.freedesktop.PolicyKit1"/></policy>`;
const MANAGER = ['org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager'];

describe('PolkitAuthority', () => {
  let bus: PrivateBus;
  let handle: BusHandle;
  let polkitBus: dbus.MessageBus | null = null;
  let polkit: FakePolkitAuthority;
  const engine = new FakeEngine();

  before(async () => {
    bus = await startPrivateBus(shippedPolicy(POLKIT_POLICY));
    handle = await startBus(engine, { address: bus.address, trustRoot: false });
    engine.applyOutcomes.set(A_KO, patchRecord('aaaaaaaaaaaa'));
    engine.patches = [patchRecord('bbbbbbbbbbbb')];
  });
  beforeEach(async () => {
    polkitBus?.disconnect();
    polkitBus = await connectBus(bus.address);
    polkit = new FakePolkitAuthority();
    polkitBus.export('/org/freedesktop/PolicyKit1/Authority', polkit);
    await polkitBus.requestName('org.freedesktop.PolicyKit1', dbus.NameFlag.DO_NOT_QUEUE);
  });
  after(async () => {
    polkitBus?.disconnect();
    await handle.stop();
    await bus.stop();
  });

  it('checks the action for the caller system-bus-name, interactive only when allowed', async () => {
    const apply = await busctl(bus.address, ['call', ...MANAGER, 'Apply', 'sa{sv}', A_KO, '0']);
    assert.equal(apply.code, 0, apply.stderr);
    const revert = await busctl(bus.address, ['call', '--allow-interactive-authorization=no', ...MANAGER, 'Revert', 'sa{sv}', 'bbbbbbbbbbbb', '0']);
    assert.equal(revert.code, 0, revert.stderr);

    assert.equal(polkit.calls.length, 2);
    const [first, second] = polkit.calls;
    assert.equal(first.subject[0], 'system-bus-name');
    assert.deepEqual(Object.keys(first.subject[1]), ['name']);
    assert.equal(first.subject[1].name.signature, 's');
    const requestedBy = String(engine.calls[0].options?.requestedBy);
    assert.equal(requestedBy, `uid 0 via ${first.subject[1].name.value}`);
    assert.deepEqual(
      { actionId: first.actionId, details: first.details, flags: first.flags, cancellationId: first.cancellationId },
      { actionId: 'org.spliced.apply', details: {}, flags: 1, cancellationId: '' },
    );
    assert.equal(second.actionId, 'org.spliced.revert');
    assert.equal(second.flags, 0);
  });

  it('turns "not authorised" and "challenge" answers into PermissionDenied', async () => {
    polkit.answer = [false, false];
    const no = await managerError(bus.address, 'Apply', [A_KO, '{}']);
    assert.equal(no.name, 'org.spliced.Spliced1.Error.PermissionDenied');
    assert.match(no.message, /polkit denies it$/);
    polkit.answer = [false, true];
    const challenge = await managerError(bus.address, 'Apply', [A_KO, '{}']);
    assert.match(challenge.message, /authentication is required: retry interactively/);
  });

  it('fails closed with PermissionDenied when polkit cannot be asked', async () => {
    polkitBus!.disconnect();
    polkitBus = null;
    const r = await managerError(bus.address, 'Apply', [A_KO, '{}']);
    assert.equal(r.name, 'org.spliced.Spliced1.Error.PermissionDenied');
    assert.match(r.message, /^cannot check authorisation for org\.spliced\.apply with polkit: .*org\.freedesktop\.PolicyKit1/);
  });
});
