// `splicectl monitor --notify` end to end on the host: Debian's dunst on a real session bus under Xvfb,
// the real spliced daemon on a private system bus (docs/testing.md, "The desktop notifier": why on the host), and
// a screenshot of what the desktop showed, kept as evidence. On the host the real daemon can only fail (no livepatch
// here); applied-with-CVEs and reboot-required come from the bus adapter over a FakeEngine, to the same server.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startBus, type BusHandle } from '../../../src/bus';
import { patchRecord, FakeEngine } from '../bus/fake-engine';
import { eventually, NOBODY, run, ScriptedAuthority } from '../bus/harness';
import { startDesktopSession, type DesktopSession } from '../../support/desktop-session';
import { evidenceDir } from '../../support/screenshot';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { splicectlMain } from '../../support/repo';
import { startSplicedDaemon, type SplicedDaemon } from '../../support/spliced-daemon';
import { startMonitor, stopMonitors } from './monitor-process';

const EVIDENCE = evidenceDir();
const REASON = 'livepatch livepatch_aaaaaaaaaaaa is disabled but its module is still loaded';

describe('splicectl monitor --notify on a desktop (Xvfb, dunst, real spliced)', () => {
  let desktop: DesktopSession;
  let system: PrivateBus;
  let spliced: SplicedDaemon;

  before(async () => {
    [desktop, system] = await Promise.all([startDesktopSession(), startPrivateBus(shippedPolicy())]);
    spliced = await startSplicedDaemon(system.address);
  });
  after(async () => {
    await stopMonitors();
    await spliced?.remove();
    await system?.stop();
    await desktop?.stop();
  });

  const notifying = (busAddress: string) =>
    startMonitor(['--notify', '--json'], { SPLICED_BUS_ADDRESS: busAddress, DBUS_SESSION_BUS_ADDRESS: desktop.bus.address }, NOBODY);
  /** A real job of the real daemon that fails: /etc/hostname is no module. */
  const failedApply = async () => {
    const r = await run(process.execPath, [splicectlMain(), 'apply', '/etc/hostname'], { env: { SPLICED_BUS_ADDRESS: system.address } });
    assert.equal(r.code, 1, r.stderr);
  };
  /** Screenshot the desktop into the evidence directory, check something is shown, and say where it is. */
  const evidence = async (t: TestContext, name: string) => {
    await new Promise((r) => setTimeout(r, 500)); // drawn
    const file = path.join(EVIDENCE, name);
    const brightness = await desktop.screenshot(file);
    assert.ok(brightness > 0.005, `notifications are on the screen (mean brightness ${brightness})`);
    t.diagnostic(`screenshot: ${file}`);
  };
  const shownCount = (n: number) =>
    eventually(() => (desktop.shown().length >= n ? desktop.shown() : undefined), 10_000).catch(() => {
      throw new Error(`expected ${n} notifications shown, got ${JSON.stringify(desktop.shown())}`);
    });

  it("the real daemon's failure is shown; again after spliced restarts and after the system bus restarts", async (t) => {
    assert.equal(await desktop.screenshot(path.join(EVIDENCE, 'notifier-empty.png')), 0, 'the screen starts black');
    const m = await notifying(system.address);
    await failedApply();
    const [shown] = await shownCount(1);
    assert.deepEqual([shown.appName, shown.replacesId, shown.icon, shown.summary, shown.actions], [
      'spliced', 0, 'dialog-error', 'Kernel patch failed: CorruptModule', [],
    ]);
    assert.match(shown.body, /^\/etc\/hostname is not a valid kernel module \(.+\)$/);
    assert.equal(JSON.parse(m.lines()[0]).errorKind, 'CorruptModule');
    await evidence(t, 'notifier-failed.png');

    await spliced.stop();
    await spliced.restart();
    await failedApply();
    await shownCount(2);

    await system.restart();
    await eventually(() => (spliced.child.exitCode !== null ? true : undefined), 10_000); // spliced exits with its bus
    await spliced.restart();
    await m.said(/connected to the bus again/);
    await failedApply();
    await shownCount(3);
    assert.deepEqual(
      m.lines().map((l) => JSON.parse(l).event),
      ['failed', 'spliced-stopped', 'spliced-started', 'failed', 'spliced-stopped', 'spliced-started', 'failed'],
    );
    await m.stop();
  });

  it('applied (with its CVEs; a click shows its details) and reboot required are shown; screenshots are kept', async (t) => {
    const bus = await startPrivateBus(shippedPolicy());
    const engine = new FakeEngine();
    let handle: BusHandle | undefined;
    try {
      handle = await startBus(engine, { address: bus.address, authority: new ScriptedAuthority() });
      const m = await notifying(bus.address);
      await desktop.closeAll(); // the failures before: the screenshots show these alone
      const before = desktop.shown().length;
      engine.applyOutcomes.set('/srv/fix.ko', patchRecord('aaaaaaaaaaaa', { cves: ['CVE-2026-0001', 'CVE-2026-0002'], description: 'fix meminfo' }));
      engine.apply({ name: '/srv/fix.ko', content: Buffer.from('x') }, { origin: 'drop-dir' });
      const [applied] = (await shownCount(before + 1)).slice(before);
      assert.deepEqual([applied.summary, applied.body, applied.icon, applied.actions], [
        'Kernel patched without a reboot',
        'fix meminfo\nFixes CVE-2026-0001, CVE-2026-0002\nPatch aaaaaaaaaaaa, brings 6.1.160-1',
        'software-update-available',
        ['default', 'Show details', 'details', 'Show details'],
      ]);
      await evidence(t, 'notifier-applied.png');

      await desktop.click(0);
      const [details] = (await shownCount(before + 2)).slice(before + 1);
      assert.equal(details.replacesId, applied.id);
      assert.equal(details.summary, 'Patch aaaaaaaaaaaa');
      assert.match(details.body, /^cves: +CVE-2026-0001, CVE-2026-0002$/m);

      engine.setStatus({ rebootRequired: true, rebootReasons: [REASON] });
      const [reboot] = (await shownCount(before + 3)).slice(before + 2);
      assert.deepEqual([reboot.summary, reboot.body, reboot.actions], ['Reboot required', REASON, []]);
      await evidence(t, 'notifier-details-and-reboot.png');
      await m.stop();
    } finally {
      await handle?.stop();
      await bus.stop();
    }
  });
});
