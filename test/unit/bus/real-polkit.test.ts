// The shipped polkit actions and example rule with the real polkitd, on the private bus: polkitd runs in a private
// mount namespace where /usr/share/polkit-1/actions also holds dbus/org.spliced.policy, /etc/polkit-1/rules.d holds
// dbus/org.spliced.rules.example, and /etc/group has a "spliced" group with the user "daemon" in it. The host's own
// files are not touched. Skipped where polkitd or mount namespaces are not available.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBus, type BusHandle } from '../../../src/bus';
import { FakeEngine, patchRecord } from './fake-engine';
import { FakeFeed } from './fake-feed';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { busctl, eventually, managerError, NOBODY, REPO, tempModule } from './harness';

const A_KO = tempModule('a.ko');

const POLKITD = '/usr/lib/polkit-1/polkitd';
const DAEMON_UID = 1; // Debian's "daemon" user: the automation account of the example rule
const MANAGER = ['org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager'];

function unavailable(): string | false {
  if (!existsSync(POLKITD)) return `${POLKITD} is not installed (package polkitd)`;
  if (process.getuid?.() !== 0) return 'needs root for a mount namespace';
  const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true']);
  return probe.status === 0 ? false : 'unshare -m is not permitted here';
}

describe('real polkitd with the shipped actions and example rule', { skip: unavailable() }, () => {
  let bus: PrivateBus;
  let polkitd: ChildProcess;
  let handle: BusHandle;
  let dir: string;
  const engine = new FakeEngine();
  const feed = new FakeFeed();

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spliced-polkit-'));
    const actions = path.join(dir, 'actions');
    const rules = path.join(dir, 'rules.d');
    mkdirSync(actions);
    mkdirSync(rules);
    for (const f of readdirSync('/usr/share/polkit-1/actions')) copyFileSync(path.join('/usr/share/polkit-1/actions', f), path.join(actions, f));
    copyFileSync(path.join(REPO, 'dbus/org.spliced.policy'), path.join(actions, 'org.spliced.policy'));
    copyFileSync(path.join(REPO, 'dbus/org.spliced.rules.example'), path.join(rules, '50-spliced.rules'));
    const group = path.join(dir, 'group');
    writeFileSync(group, `${readFileSync('/etc/group', 'utf8').trimEnd()}\nspliced:x:64999:daemon\n`);

    // polkitd switches to the user polkitd before it claims its name.
    bus = await startPrivateBus(shippedPolicy(`<policy user="polkitd"><allow own="org.freedesktop.PolicyKit1"/></policy>
      <policy context="default"><allow send_destination="org.freedesktop.PolicyKit1"/></policy>`));
    const mounts = [
      [actions, '/usr/share/polkit-1/actions'],
      [rules, '/etc/polkit-1/rules.d'],
      [group, '/etc/group'],
    ].map(([from, to]) => `mount --bind '${from}' '${to}'`);
    polkitd = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-ec', `${mounts.join(' && ')} && exec ${POLKITD} --no-debug`], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address },
      stdio: 'ignore',
    });
    await eventually(async () => {
      const r = await busctl(bus.address, ['call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', 'org.freedesktop.PolicyKit1']);
      return r.stdout.trim() === 'b true' ? true : undefined;
    }, 10_000);

    engine.applyOutcomes.set(A_KO, patchRecord('aaaaaaaaaaaa'));
    handle = await startBus(engine, { address: bus.address, feed });
  });
  after(async () => {
    await handle?.stop();
    if (polkitd && polkitd.exitCode === null) {
      const exited = new Promise((r) => polkitd.once('exit', r));
      polkitd.kill('SIGTERM');
      await exited;
    }
    await bus?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses Apply to a user outside any session (allow_any=no)', async () => {
    const r = await managerError(bus.address, 'Apply', [A_KO, '{}'], { uid: NOBODY });
    assert.equal(r.name, 'org.spliced.Spliced1.Error.PermissionDenied');
    assert.match(r.message, new RegExp(`^uid ${NOBODY} via :1\\.\\d+ is not authorised for org\\.spliced\\.apply: polkit denies it$`));
    assert.equal(engine.calls.length, 0);
  });

  it('refuses Refresh to a user outside any session, and lets a member of the group "spliced" refresh', async () => {
    const r = await managerError(bus.address, 'Refresh', ['{}'], { uid: NOBODY });
    assert.equal(r.name, 'org.spliced.Spliced1.Error.PermissionDenied');
    assert.match(r.message, new RegExp(`^uid ${NOBODY} via :1\\.\\d+ is not authorised for org\\.spliced\\.refresh: polkit denies it$`));
    assert.deepEqual(feed.reasons, []);
    const ok = await busctl(bus.address, ['call', ...MANAGER, 'Refresh', 'a{sv}', '0'], { uid: DAEMON_UID });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(feed.reasons, ['Refresh() over D-Bus']);
  });

  it('lets a member of the group "spliced" apply and revert through the example rule', async () => {
    const apply = await busctl(bus.address, ['call', ...MANAGER, 'Apply', 'sa{sv}', A_KO, '0'], { uid: DAEMON_UID });
    assert.equal(apply.code, 0, apply.stderr);
    await eventually(() => (engine.patches.length === 1 ? true : undefined));
    const revert = await busctl(bus.address, ['call', ...MANAGER, 'Revert', 'sa{sv}', 'aaaaaaaaaaaa', '0'], { uid: DAEMON_UID });
    assert.equal(revert.code, 0, revert.stderr);
    assert.deepEqual(engine.calls.map((c) => [c.method, c.options?.requestedBy?.startsWith(`uid ${DAEMON_UID} via :1.`)]), [
      ['apply', true],
      ['revert', true],
    ]);
  });
});
