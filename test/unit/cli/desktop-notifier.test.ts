// DesktopNotifier in-process, where its limits can be reached quickly: a server that never answers cannot pile up
// the monitor's events (src/cli/monitor/desktop.ts).

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { DesktopNotifier } from '../../../src/cli/monitor/desktop';
import { PERMISSIVE_POLICY, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { eventually } from '../bus/harness';
import { ScriptedNotificationServer } from './notification-server';

let session: PrivateBus;
let server: ScriptedNotificationServer;
before(async () => {
  session = await startPrivateBus(PERMISSIVE_POLICY);
  server = await ScriptedNotificationServer.start(session.address);
});
after(async () => {
  server.stop();
  await session.stop();
});

it('a hung server: at most 16 notifications wait, the others are dropped with a warning; each waits 100 ms at most', async () => {
  server.behaviour = 'hang';
  const warnings: string[] = [];
  const notifier = await DesktopNotifier.connect({ address: session.address, timeoutMs: 100, warn: (w) => warnings.push(w), details: async () => null });
  const at = new Date();
  for (let i = 0; i < 20; i++) notifier.post({ event: 'reboot-required', at, reasons: [`r${i}`] });
  assert.equal(warnings.filter((w) => /16 are still waiting for the notification server/.test(w)).length, 4);
  await eventually(() => (warnings.filter((w) => /did not answer GetCapabilities within 100 ms/.test(w)).length === 16 ? true : undefined), 10_000);
  // Drained: the next one is tried again.
  server.behaviour = 'answer';
  notifier.post({ event: 'reboot-required', at, reasons: ['after'] });
  await eventually(() => (server.posted.some((p) => p.body === 'after') ? true : undefined));
  notifier.close();
});
