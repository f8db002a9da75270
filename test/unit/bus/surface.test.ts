// The shipped files under dbus/ tell the truth about the live objects, and the shipped bus policy lets root own the
// name and anyone call it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { interfaceShape } from './introspection';
import { patchRecord } from './fake-engine';
import { busctl, eventually, NOBODY, REPO, run, startDaemon, type Daemon } from './harness';
import { publicRepo } from '../../support/repo';

const shipped = (file: string) => readFileSync(path.join(REPO, 'dbus', file), 'utf8');

describe('D-Bus surface files', () => {
  let daemon: Daemon;
  before(async () => {
    daemon = await startDaemon();
    daemon.engine.applyOutcomes.set(daemon.file('a.ko'), patchRecord('aaaaaaaaaaaa'));
  });
  after(() => daemon.stop());

  const liveXml = async (objectPath: string) => {
    const r = await busctl(daemon.bus.address, ['introspect', '--xml-interface', 'org.spliced.Spliced1', objectPath]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('Manager interface XML matches the live object', async () => {
    const live = interfaceShape(await liveXml('/org/spliced/Spliced1'), 'org.spliced.Spliced1.Manager');
    const doc = interfaceShape(shipped('org.spliced.Spliced1.Manager.xml'), 'org.spliced.Spliced1.Manager');
    assert.deepEqual(live, doc);
    assert.ok(Object.keys(doc.methods).length >= 5 && Object.keys(doc.properties).length >= 4);
  });

  it('Job interface XML matches a live job object', async () => {
    const apply = await busctl(daemon.bus.address, [
      'call', 'org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager',
      'Apply', 'sa{sv}', daemon.file('a.ko'), '0',
    ]);
    assert.equal(apply.code, 0, apply.stderr);
    const jobPath = JSON.parse(apply.stdout.replace(/^o /, ''));
    const live = interfaceShape(await liveXml(jobPath), 'org.spliced.Spliced1.Job');
    const doc = interfaceShape(shipped('org.spliced.Spliced1.Job.xml'), 'org.spliced.Spliced1.Job');
    assert.deepEqual(live, doc);
  });

  it('lets an unprivileged user call and read, but not own the name', async () => {
    // An Apply above may still be running (its engine steps are timers): wait, so both lists read the same stack.
    await eventually(() => daemon.engine.jobs().length === 0 || undefined);
    const listAs = (uid?: number) =>
      busctl(
        daemon.bus.address,
        ['call', 'org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager', 'List'],
        { uid },
      );
    const list = await listAs(NOBODY);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^a\(sssssusstsas\) \d+/);
    assert.equal(list.stdout, (await listAs()).stdout, 'nobody reads the list root reads');
    const prop = await busctl(
      daemon.bus.address,
      ['get-property', 'org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager', 'KernelRelease'],
      { uid: NOBODY },
    );
    assert.equal(prop.stdout.trim(), 's "6.1.0-56-amd64"', prop.stderr);

    const own = await run(
      process.execPath,
      ['-e', `require(${JSON.stringify(path.join(publicRepo(), 'node_modules/dbus-next'))}).sessionBus({ busAddress: process.argv[1] })
        .requestName('org.spliced.Spliced1', 4).then(r => { console.log('owned', r); process.exit(0); },
        e => { console.log(e.type); process.exit(3); });`, daemon.bus.address],
      { uid: NOBODY },
    );
    assert.equal(own.stdout.trim(), 'org.freedesktop.DBus.Error.AccessDenied', `exit ${own.code}: ${own.stderr}`);
  });

  it('activation file and polkit actions name what the daemon uses', () => {
    const service = shipped('org.spliced.Spliced1.service');
    assert.match(service, /^Name=org\.spliced\.Spliced1$/m);
    assert.match(service, /^SystemdService=spliced\.service$/m);
    const policy = shipped('org.spliced.policy');
    for (const action of ['org.spliced.apply', 'org.spliced.revert']) {
      const block = new RegExp(`<action id="${action.replace(/\./g, '\\.')}">([\\s\\S]*?)</action>`).exec(policy)?.[1];
      assert.ok(block, `${action} is declared`);
      assert.match(block, /<allow_any>no<\/allow_any>/);
      assert.match(block, /<allow_active>auth_admin_keep<\/allow_active>/);
    }
  });
});
