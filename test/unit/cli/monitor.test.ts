// `splicectl monitor` as a user runs it: the built binary against the bus adapter serving a FakeEngine on a private
// bus with the system bus's policy; with --notify, against a scripted notification server on a private session bus.
// The real daemon and a real notification server: notifier-desktop.test.ts.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startBus, type BusHandle } from '../../../src/bus';
import { SplicedError } from '../../../src/errors';
import { patchRecord, FakeEngine } from '../bus/fake-engine';
import { busctl, eventually, NOBODY, run, ScriptedAuthority } from '../bus/harness';
import { PERMISSIVE_POLICY, shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { splicectlMain } from '../../support/repo';
import { startMonitor, stopMonitors } from './monitor-process';
import { ScriptedNotificationServer } from './notification-server';
import { FakeFeed } from '../bus/fake-feed';

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
const REASON = 'livepatch livepatch_bbbbbbbbbbbb is disabled but its module is still loaded';

/** spliced as far as the monitor can tell: the adapter over a FakeEngine, restartable on the same bus. */
class Spliced {
  handle: BusHandle | null = null;
  readonly feed = new FakeFeed();
  constructor(
    readonly bus: PrivateBus,
    readonly engine: FakeEngine,
  ) {}
  async start(): Promise<void> {
    this.handle = await startBus(this.engine, { address: this.bus.address, authority: new ScriptedAuthority(), onConnectionLost: () => undefined, feed: this.feed });
  }
  async stop(): Promise<void> {
    await this.handle?.stop();
    this.handle = null;
  }
}

/** Apply a file as the drop directory would: a job, then an event. */
const applyFile = (engine: FakeEngine, name: string) => engine.apply({ name, content: Buffer.from('x') }, { origin: 'drop-dir' });

/** The events of the monitor tests, one of each kind, in this order. */
function emitEvents(engine: FakeEngine, feed: FakeFeed): void {
  const patch = patchRecord('aaaaaaaaaaaa', { cves: ['CVE-2026-0001', 'CVE-2026-0002'], description: 'fix meminfo' });
  engine.applyOutcomes.set('/srv/fix.ko', patch);
  applyFile(engine, '/srv/fix.ko');
  engine.once('patch-applied', () => {
    engine.revert('aaaaaaaaaaaa');
    engine.once('patch-reverted', () => {
      applyFile(engine, '/srv/broken.ko');
      engine.once('patch-failed', () => {
        engine.setStatus({ rebootRequired: true, rebootReasons: [REASON] });
        feed.emit('update-available', { sourceVersion: '6.1.192-2', imagePackage: 'linux-image-6.1.0-56-amd64', policy: 'notify' });
      });
    });
  });
}

describe('splicectl monitor', () => {
  let bus: PrivateBus;
  let engine: FakeEngine;
  let spliced: Spliced;
  const env = () => ({ SPLICED_BUS_ADDRESS: bus.address });

  before(async () => {
    bus = await startPrivateBus(shippedPolicy());
  });
  after(async () => {
    await stopMonitors();
    await spliced?.stop();
    await bus.stop();
  });
  const fresh = async () => {
    await spliced?.stop();
    engine = new FakeEngine();
    engine.stepMs = 5;
    spliced = new Spliced(bus, engine);
    await spliced.start();
  };

  it('prints one line per event, as an unprivileged user, until SIGTERM (exit 0)', async () => {
    await fresh();
    const m = await startMonitor([], env(), NOBODY);
    emitEvents(engine, spliced.feed);
    const lines = await m.lineCount(5);
    assert.match(lines[0], new RegExp(`^${ISO} applied aaaaaaaaaaaa \\(livepatch_aaaaaaaaaaaa\\): fix meminfo; fixes CVE-2026-0001, CVE-2026-0002$`));
    assert.match(lines[1], new RegExp(`^${ISO} reverted aaaaaaaaaaaa \\(livepatch_aaaaaaaaaaaa\\)$`));
    assert.match(lines[2], new RegExp(`^${ISO} failed /srv/broken\\.ko: /srv/broken\\.ko is no module \\(CorruptModule\\)$`));
    assert.match(lines[3], new RegExp(`^${ISO} reboot-required: ${REASON}$`));
    assert.match(lines[4], new RegExp(`^${ISO} update-available: Debian linux 6\\.1\\.192-2 \\(linux-image-6\\.1\\.0-56-amd64\\); feed_policy notify$`));
    // The same reboot state again (another property changes) is no new event.
    engine.setStatus({ effectiveVersion: '6.1.160-1' });
    await busctl(bus.address, ['call', 'org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.freedesktop.DBus.Peer', 'Ping']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(m.lines().length, 5, m.stdout());
    assert.equal(await m.stop(), 0);
  });

  it('--json: one JSON object per line, the same events', async () => {
    await fresh();
    const m = await startMonitor(['--json'], env());
    emitEvents(engine, spliced.feed);
    const events = (await m.lineCount(5)).map((l) => JSON.parse(l));
    for (const e of events) assert.match(e.at, new RegExp(`^${ISO}$`));
    assert.deepEqual(
      events.map(({ at: _, ...rest }) => rest),
      [
        { event: 'applied', id: 'aaaaaaaaaaaa', name: 'livepatch_aaaaaaaaaaaa', description: 'fix meminfo', version: '6.1.160-1', cves: ['CVE-2026-0001', 'CVE-2026-0002'] },
        { event: 'reverted', id: 'aaaaaaaaaaaa', name: 'livepatch_aaaaaaaaaaaa' },
        {
          event: 'failed', id: null, name: null, target: '/srv/broken.ko', errorKind: 'CorruptModule',
          errorName: 'org.spliced.Spliced1.Error.CorruptModule', errorMessage: '/srv/broken.ko is no module',
        },
        { event: 'reboot-required', reasons: [REASON] },
        { event: 'update-available', sourceVersion: '6.1.192-2', imagePackage: 'linux-image-6.1.0-56-amd64', policy: 'notify' },
      ],
    );
    m.child.kill('SIGINT');
    await eventually(() => m.child.exitCode ?? undefined);
    assert.equal(m.child.exitCode, 0);
  });

  it('a reboot already required when the monitor starts is one event, at once', async () => {
    await fresh();
    engine.setStatus({ rebootRequired: true, rebootReasons: [REASON] });
    const m = await startMonitor([], env());
    const [line] = await m.lineCount(1);
    assert.match(line, new RegExp(`^${ISO} reboot-required: ${REASON}$`));
    await m.stop();
  });

  it('starts without spliced on the bus (never activates it) and reports it when it comes', async () => {
    await fresh();
    await spliced.stop();
    const m = await startMonitor([], env());
    await spliced.start();
    applyFile(engine, '/srv/late.ko');
    const lines = await m.lineCount(2);
    assert.match(lines[0], new RegExp(`^${ISO} spliced-started$`));
    assert.match(lines[1], /failed \/srv\/late\.ko/);
    await m.stop();
  });

  it('a message with a newline stays one line', async () => {
    await fresh();
    const m = await startMonitor([], env());
    engine.applyOutcomes.set('/srv/evil.ko', new SplicedError('LoadFailed', 'bad\n2026-01-01T00:00:00.000Z applied ffffffffffff (forged)'));
    applyFile(engine, '/srv/evil.ko');
    const [line] = await m.lineCount(1);
    assert.match(line, /^\S+ failed \/srv\/evil\.ko: bad 2026-01-01T00:00:00\.000Z applied ffffffffffff \(forged\) \(LoadFailed\)$/);
    await m.stop();
  });

  it('signals forged by another connection are no events (PatchApplied, NameOwnerChanged sent straight to the monitor)', async () => {
    await fresh();
    const m = await startMonitor(['--json'], env(), NOBODY);
    const names = JSON.parse((await busctl(bus.address, ['list', '--json=short'])).stdout) as { name: string; pid: number }[];
    const monitorName = names.find((n) => n.pid === m.child.pid && n.name.startsWith(':'))?.name;
    assert.ok(monitorName, JSON.stringify(names));
    const forge = (signal: string, ...args: string[]) =>
      run('gdbus', ['emit', '--address', bus.address, '--object-path', signal.startsWith('org.freedesktop.DBus.') ? '/org/freedesktop/DBus' : '/org/spliced/Spliced1', '--signal', signal, '--dest', monitorName, ...args]);
    for (const r of [
      await forge('org.spliced.Spliced1.Manager.PatchApplied', "'ffffffffffff'", "'forged'"),
      await forge('org.freedesktop.DBus.NameOwnerChanged', "'org.spliced.Spliced1'", `'${spliced.handle!.uniqueName}'`, "''"),
      await forge('org.freedesktop.DBus.Properties.PropertiesChanged', "'org.spliced.Spliced1.Manager'", "{'RebootRequired': <true>, 'RebootReasons': <['forged']>}", '@as []'),
    ]) assert.equal(r.code, 0, r.stderr);
    // Then a real one: the first event the monitor prints.
    applyFile(engine, '/srv/after.ko');
    const [first] = await m.lineCount(1);
    assert.equal(JSON.parse(first).target, '/srv/after.ko');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(m.lines().length, 1, m.stdout());
    await m.stop();
  });

  it('outlives spliced restarting and the bus restarting (reconnects; the reboot state is read again)', async () => {
    await fresh();
    const m = await startMonitor([], env());
    await spliced.stop();
    await spliced.start();
    applyFile(engine, '/srv/one.ko');
    let lines = await m.lineCount(3);
    assert.match(lines[0], /^\S+ spliced-stopped$/);
    assert.match(lines[1], /^\S+ spliced-started$/);
    assert.match(lines[2], /failed \/srv\/one\.ko/);

    // The bus dies (spliced's connection with it) and comes back; spliced starts again, now needing a reboot.
    await bus.restart();
    await m.said(/lost the D-Bus connection: .*; reconnecting/);
    await spliced.stop(); // as the real daemon does when its bus connection breaks (it exits)
    engine.setStatus({ rebootRequired: true, rebootReasons: [REASON] });
    await spliced.start();
    await m.said(/connected to the bus again/);
    applyFile(engine, '/srv/two.ko');
    lines = await m.lineCount(7);
    assert.deepEqual(lines.slice(3).map((l) => l.replace(/^\S+ /, '').replace(/: .*/, '')), [
      'spliced-stopped', 'spliced-started', 'reboot-required', 'failed /srv/two.ko',
    ]);
    assert.equal(await m.stop(), 0);
  });

  it('exit codes: 64 for a wrong command line, 69 without a bus or, with --notify, without a session bus', async () => {
    const splicectl = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      run(process.execPath, [splicectlMain(), ...args], { env: { SPLICED_BUS_ADDRESS: bus.address, ...extra } });
    const extraArg = await splicectl(['monitor', 'now']);
    assert.equal(extraArg.code, 64);
    assert.match(extraArg.stderr, /"monitor" takes no arguments \(InvalidArgument\)/);
    assert.equal((await splicectl(['status', '--notify'])).code, 64);
    const noBus = await splicectl(['monitor'], { SPLICED_BUS_ADDRESS: 'unix:path=/nonexistent/bus' });
    assert.equal(noBus.code, 69);
    assert.match(noBus.stderr, /cannot connect to unix:path=\/nonexistent\/bus: no D-Bus daemon listens there \(Unavailable\)/);
    const noSession = await splicectl(['monitor', '--notify'], { DBUS_SESSION_BUS_ADDRESS: '', XDG_RUNTIME_DIR: '/nonexistent' });
    assert.equal(noSession.code, 69);
    assert.match(noSession.stderr, /no session bus: DBUS_SESSION_BUS_ADDRESS is not set/);
  });

  describe('--notify', () => {
    let session: PrivateBus;
    let server: ScriptedNotificationServer;
    before(async () => {
      session = await startPrivateBus(PERMISSIVE_POLICY);
      server = await ScriptedNotificationServer.start(session.address);
    });
    after(async () => {
      server?.stop();
      await session.stop();
    });
    beforeEach(() => {
      server.posted.length = 0;
      server.capabilities = ['actions', 'body', 'body-markup'];
      server.behaviour = 'answer';
    });
    const notifying = () => startMonitor(['--notify'], { ...env(), DBUS_SESSION_BUS_ADDRESS: session.address }, NOBODY);

    it('posts one notification per event; "Show details" replaces it with `splicectl show`', async () => {
      await fresh();
      const m = await notifying();
      emitEvents(engine, spliced.feed);
      await m.lineCount(5);
      await eventually(() => (server.posted.length >= 5 ? true : undefined));
      const [applied, reverted, failed, reboot, update] = server.posted;
      const { id: _, ...appliedArgs } = applied;
      assert.deepEqual(appliedArgs, {
        appName: 'spliced', replacesId: 0, icon: 'software-update-available', summary: 'Kernel patched without a reboot',
        body: 'fix meminfo\nFixes CVE-2026-0001, CVE-2026-0002\nPatch aaaaaaaaaaaa, brings 6.1.160-1',
        actions: ['default', 'Show details', 'details', 'Show details'], hints: { urgency: 1, 'desktop-entry': 'spliced-notifier' }, timeout: -1,
      });
      assert.deepEqual([reverted.summary, reverted.icon], ['Kernel patch reverted', 'dialog-information']);
      assert.deepEqual([failed.summary, failed.body, failed.icon, failed.hints.urgency, failed.actions], [
        'Kernel patch failed: CorruptModule', '/srv/broken.ko is no module', 'dialog-error', 2, [],
      ]);
      assert.deepEqual([reboot.summary, reboot.body, reboot.icon, reboot.actions], ['Reboot required', REASON, 'software-update-urgent', []]);
      assert.deepEqual([update.summary, update.body, update.icon, update.hints.urgency, update.actions], [
        'Kernel update 6.1.192-2 available',
        "Debian's linux 6.1.192-2 (linux-image-6.1.0-56-amd64) is offered.\nspliced only reports it (feed_policy notify): install it and reboot, or let spliced build it.",
        'software-update-available', 1, [],
      ]);

      // Another program of the session pretending to be the server: ignored.
      const forged = await run('gdbus', ['emit', '--address', session.address, '--object-path', '/org/freedesktop/Notifications',
        '--signal', 'org.freedesktop.Notifications.ActionInvoked', String(applied.id), "'details'"]);
      assert.equal(forged.code, 0, forged.stderr);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(server.posted.length, 5);
      server.invoke(applied.id, 'details');
      await eventually(() => (server.posted.length >= 6 ? true : undefined));
      const details = server.posted[5];
      assert.equal(details.replacesId, applied.id);
      assert.equal(details.summary, 'Patch aaaaaaaaaaaa');
      assert.match(details.body, /^cves: +CVE-2026-0001, CVE-2026-0002$/m);
      assert.match(details.body, /^functions: +vmlinux:cmdline_proc_show$/m);
      // Once per notification: the same action again (or the other key of it) asks nothing more.
      server.invoke(applied.id, 'details');
      server.invoke(applied.id, 'default');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(server.posted.length, 6);
      await m.stop();
    });

    it('no action buttons when the server has no "actions"; markup escaped only where the server reads markup', async () => {
      await fresh();
      const m = await notifying();
      server.capabilities = ['body'];
      engine.applyOutcomes.set('/srv/<b>x</b>.ko', new SplicedError('LoadFailed', 'a <b>bold</b> & odd message'));
      applyFile(engine, '/srv/<b>x</b>.ko');
      await eventually(() => (server.posted.length >= 1 ? true : undefined));
      assert.equal(server.posted[0].body, 'a <b>bold</b> & odd message\n/srv/<b>x</b>.ko');
      server.capabilities = ['actions', 'body-markup'];
      applyFile(engine, '/srv/<b>x</b>.ko');
      await eventually(() => (server.posted.length >= 2 ? true : undefined));
      assert.equal(server.posted[1].body, 'a &lt;b&gt;bold&lt;/b&gt; &amp; odd message\n/srv/&lt;b&gt;x&lt;/b&gt;.ko');
      await m.stop();
    });

    it('a hung, a nonsensical or an absent server: events are still printed, the monitor says why and keeps running', async () => {
      await fresh();
      const m = await notifying();
      // Nonsense: answers of the wrong types.
      server.behaviour = 'nonsense';
      applyFile(engine, '/srv/nonsense.ko');
      await m.lineCount(1, 3000);
      await eventually(() => (server.called.includes('Notify') ? true : undefined));
      // Hung: the event is printed at once, the notification given up after 5 s.
      server.behaviour = 'hang';
      applyFile(engine, '/srv/hang.ko');
      await m.lineCount(2, 3000);
      await m.said(/no notification for the failed event: org\.freedesktop\.Notifications did not answer GetCapabilities within 5000 ms/, 15_000);
      // Absent.
      server.stop();
      applyFile(engine, '/srv/absent.ko');
      await m.lineCount(3, 3000);
      await m.said(/no notification for the failed event: GetCapabilities: org\.freedesktop\.DBus\.Error\.ServiceUnknown/, 15_000);
      assert.equal(m.child.exitCode, null, 'still running');
      // A server that comes back gets the next event.
      server = await ScriptedNotificationServer.start(session.address);
      applyFile(engine, '/srv/back.ko');
      await eventually(() => (server.posted.some((p) => p.body.includes('/srv/back.ko')) ? true : undefined), 10_000);
      assert.equal(await m.stop(), 0);
    });
  });
});
