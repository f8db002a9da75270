// The distro feed on the bus: Refresh() (polkit org.spliced.refresh, bursts coalesced), the read-only Feed*
// properties, UpdateAvailable, and the apt hook packaging/apt/50spliced run the way apt runs it.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeFeed } from './fake-feed';
import { busctl, eventually, managerError, monitor, REPO, run, startDaemon, type Daemon } from './harness';

const MANAGER = ['org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager'];

async function property(d: Daemon, name: string): Promise<unknown> {
  const r = await busctl(d.bus.address, ['get-property', '--json=short', ...MANAGER, name]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).data;
}

/** The commands apt runs after a successful update, as apt reads them from the hook file. */
async function hookCommands(): Promise<string[]> {
  const r = await run('apt-config', ['-c', path.join(REPO, 'packaging/apt/50spliced'), 'dump', 'APT::Update::Post-Invoke-Success']);
  assert.equal(r.code, 0, r.stderr);
  return [...r.stdout.matchAll(/^APT::Update::Post-Invoke-Success:: "(.*)";$/gm)].map((m) => m[1].replace(/\\"/g, '"')).filter((c) => c.includes('org.spliced'));
}

describe('feed on the bus', () => {
  let d: Daemon;
  let feed: FakeFeed;
  before(async () => {
    feed = new FakeFeed();
    d = await startDaemon({ feed });
  });
  after(() => d.stop());

  it('shows the feed settings and state as read-only properties, and their changes', async () => {
    assert.equal(await property(d, 'FeedPolicy'), 'auto');
    assert.equal(await property(d, 'FeedPinVersion'), '6.1.192-9');
    assert.equal(await property(d, 'FeedDelay'), 3600);
    assert.equal(await property(d, 'FeedApplyWindow'), '02:00-04:00');
    assert.equal(await property(d, 'FeedOffered'), '');
    assert.equal(await property(d, 'FeedLastRefresh'), 0);
    const watch = await monitor(d.bus.address);
    feed.set({
      activity: 'waiting',
      offered: { sourceVersion: '6.1.192-2', imagePackage: 'linux-image-6.1.0-56-amd64' },
      pending: '6.1.192-2: built',
      lastRefresh: '2026-11-30T21:10:00.250Z',
    });
    feed.emit('update-available', { sourceVersion: '6.1.192-2', imagePackage: 'linux-image-6.1.0-56-amd64', policy: 'auto' });
    await eventually(() => (watch.messages().some((m) => m.member === 'UpdateAvailable') ? true : undefined));
    await watch.stop();
    const signal = watch.messages().find((m) => m.member === 'UpdateAvailable') as { payload: { data: unknown[] } };
    assert.deepEqual(signal.payload.data, ['6.1.192-2', 'linux-image-6.1.0-56-amd64', 'auto']);
    const changed = watch.messages().find((m) => m.member === 'PropertiesChanged') as { payload: { data: [string, Record<string, { data: unknown }>] } };
    assert.equal(changed.payload.data[1].FeedOffered.data, '6.1.192-2');
    assert.equal(await property(d, 'FeedState'), 'waiting');
    assert.equal(await property(d, 'FeedPending'), '6.1.192-2: built');
    assert.equal(await property(d, 'FeedLastRefresh'), Date.parse('2026-11-30T21:10:00.250Z') * 1000);
    const set = await busctl(d.bus.address, ['set-property', ...MANAGER, 'FeedPolicy', 's', 'off']);
    assert.notEqual(set.code, 0);
  });

  it('Refresh needs polkit org.spliced.refresh; a refusal refreshes nothing', async () => {
    d.authority.verdict = 'no';
    const before = feed.reasons.length;
    const r = await managerError(d.bus.address, 'Refresh', ['{}']);
    assert.equal(r.name, 'org.spliced.Spliced1.Error.PermissionDenied');
    assert.match(r.message, /not authorised for org\.spliced\.refresh: polkit denies it$/);
    assert.equal(d.authority.requests.at(-1)!.action, 'org.spliced.refresh');
    assert.equal(feed.reasons.length, before);
    d.authority.verdict = 'yes';
  });

  it('a burst of Refresh calls runs one refresh', async () => {
    await feed.gate.idle();
    const start = feed.refreshes;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => busctl(d.bus.address, ['call', '--json=short', ...MANAGER, 'Refresh', 'a{sv}', '0'])),
    );
    const outcomes = answers.map((a) => (assert.equal(a.code, 0, a.stderr), JSON.parse(a.stdout).data[0] as string)).sort();
    assert.deepEqual(outcomes, ['joined', 'joined', 'joined', 'joined', 'joined', 'scheduled']);
    await feed.gate.idle();
    assert.equal(feed.refreshes - start, 1);
  });

  it("the apt hook asks for a refresh over the system bus and always exits 0", async () => {
    const [command] = await hookCommands();
    assert.ok(command, 'the hook file names a command');
    await feed.gate.idle();
    const start = feed.reasons.length;
    const ok = await run('sh', ['-c', command], { env: { DBUS_SYSTEM_BUS_ADDRESS: d.bus.address } });
    assert.equal(ok.code, 0, ok.stderr);
    await eventually(() => (feed.reasons.length > start ? true : undefined));
    await feed.gate.idle();
  });

  it('the apt hook exits 0 without spliced, and within its timeout when the bus never answers', async () => {
    const [command] = await hookCommands();
    const gone = await run('sh', ['-c', command], { env: { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/bus' } });
    assert.equal(gone.code, 0);
    // A socket that accepts and never speaks: busctl would wait for ever without timeout(1).
    const socket = path.join(os.tmpdir(), `spliced-silent-${process.pid}.sock`);
    const silent = net.createServer(() => undefined).listen(socket);
    await new Promise((r) => silent.once('listening', r));
    try {
      const started = Date.now();
      const hung = await run('sh', ['-c', command], { env: { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${socket}` }, timeoutMs: 30_000 });
      assert.equal(hung.code, 0);
      assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
    } finally {
      silent.close();
    }
  });
});
