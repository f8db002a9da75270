// org.spliced.Spliced1.Manager and its job objects, driven the way an admin would: busctl (and dbus-send, which
// shows error names) against the adapter serving a FakeEngine on a private bus.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SplicedError } from '../../../src/errors';
import { patchRecord } from './fake-engine';
import { busctl, eventually, managerError, monitor, run, NOBODY, startDaemon, type Daemon, type RunOptions } from './harness';

const MANAGER = ['org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager'];
const ERR = 'org.spliced.Spliced1.Error.';

type Signal = { type: string; path: string; interface: string; member: string; payload: { data: unknown[] } };

function callManager(d: Daemon, args: string[], options?: RunOptions) {
  return busctl(d.bus.address, ['call', '--json=short', ...MANAGER, ...args], options);
}

async function callJson(d: Daemon, args: string[]): Promise<unknown[]> {
  const r = await callManager(d, args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).data;
}

async function jobProperty(d: Daemon, jobPath: string, name: string): Promise<unknown> {
  const r = await busctl(d.bus.address, ['get-property', '--json=short', 'org.spliced.Spliced1', jobPath, 'org.spliced.Spliced1.Job', name]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).data;
}

/** Apply (or Revert) with busctl; resolves with the job path once the job has finished. */
async function runJob(d: Daemon, args: string[]): Promise<string> {
  const [jobPath] = (await callJson(d, args)) as [string];
  await eventually(async () => {
    const state = await jobProperty(d, jobPath, 'State');
    return state === 'succeeded' || state === 'failed' ? state : undefined;
  });
  return jobPath;
}

describe('Manager: reads', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    d.engine.patches = [
      patchRecord('aaaaaaaaaaaa', { stackPosition: 1 }),
      patchRecord('bbbbbbbbbbbb', { state: 'not-applicable', stackPosition: null, appliedAt: null, version: null,
        stateReason: 'built for 6.1.0-55-amd64', lastError: { kind: 'WrongKernel', message: 'other build' }, origin: 'feed', cves: ['CVE-2026-0002'] }),
    ];
  });
  after(() => d.stop());

  it('List returns the documented struct for every patch, in the engine order', async () => {
    const [rows] = (await callJson(d, ['List'])) as [unknown[][]];
    assert.deepEqual(rows, [
      ['aaaaaaaaaaaa', 'livepatch_aaaaaaaaaaaa', 'applied', '', '6.1.0-56-amd64', 1, '6.1.160-1', 'fix aaaaaaaaaaaa',
        Date.parse('2026-11-20T10:00:01.000Z') * 1000, 'dbus', ['CVE-2026-0001']],
      ['bbbbbbbbbbbb', 'livepatch_bbbbbbbbbbbb', 'not-applicable', 'built for 6.1.0-55-amd64', '6.1.0-56-amd64', 0, '',
        'fix bbbbbbbbbbbb', 0, 'feed', ['CVE-2026-0002']],
    ]);
  });

  it('GetPatch returns every known field by id or by livepatch name, and leaves unknown ones out', async () => {
    const [byName] = (await callJson(d, ['GetPatch', 's', 'livepatch_bbbbbbbbbbbb'])) as [Record<string, { type: string; data: unknown }>];
    assert.equal(byName.id.data, 'bbbbbbbbbbbb');
    assert.deepEqual(byName.cves, { type: 'as', data: ['CVE-2026-0002'] });
    assert.deepEqual(byName.origin, { type: 's', data: 'feed' });
    assert.deepEqual(byName.functions, { type: 'a(ssu)', data: [['vmlinux', 'cmdline_proc_show', 0]] });
    assert.deepEqual(byName.last_error_name, { type: 's', data: ERR + 'WrongKernel' });
    assert.equal(byName.state_reason.data, 'built for 6.1.0-55-amd64');
    for (const absent of ['version', 'applied_at', 'stack_position']) assert.equal(byName[absent], undefined, absent);
    const [byId] = (await callJson(d, ['GetPatch', 's', 'aaaaaaaaaaaa'])) as [Record<string, { data: unknown }>];
    assert.equal(byId.stack_position.data, 1);
    assert.equal(byId.version.data, '6.1.160-1');
  });

  it('GetPatch of an unknown id fails with NoSuchPatch', async () => {
    assert.deepEqual(await managerError(d.bus.address, 'GetPatch', ['nope']), {
      name: ERR + 'NoSuchPatch',
      message: 'no patch "nope" is known',
    });
  });

  it('an engine bug reaches the caller as Internal with its message, never a stack trace', async () => {
    d.engine.listThrows = new TypeError('cannot read properties of undefined');
    try {
      assert.deepEqual(await managerError(d.bus.address, 'List', []), {
        name: ERR + 'Internal',
        message: 'cannot read properties of undefined',
      });
    } finally {
      d.engine.listThrows = null;
    }
  });

  it('a record dbus-next cannot encode is an Internal error, not a stack trace', async () => {
    const saved = d.engine.patches;
    d.engine.patches = [patchRecord('cccccccccccc', { description: null as unknown as string })];
    try {
      const r = await managerError(d.bus.address, 'List', []);
      assert.equal(r.name, ERR + 'Internal');
      assert.match(r.message, /^spliced could not encode a reply: /);
      assert.doesNotMatch(r.message, /\n\s+at /);
      assert.equal(d.logged.at(-1), r.message);
    } finally {
      d.engine.patches = saved;
    }
  });

  it('properties are read-only: Set gets one PropertyReadOnly error', async () => {
    const r = await run('gdbus', ['call', '--address', d.bus.address, '--dest', 'org.spliced.Spliced1', '--object-path',
      '/org/spliced/Spliced1', '--method', 'org.freedesktop.DBus.Properties.Set', 'org.spliced.Spliced1.Manager', 'State', '<"idle">']);
    assert.match(r.stderr, /^Error: GDBus\.Error:org\.freedesktop\.DBus\.Error\.PropertyReadOnly: property State is read-only\n/);
  });

  it('properties mirror the engine status and changes are announced with PropertiesChanged', async () => {
    const watch = await monitor(d.bus.address);
    try {
      d.engine.setStatus({ effectiveVersion: '6.1.160-1', rebootRequired: true, rebootReasons: ['x'] });
      const changed = await eventually(() =>
        (watch.messages() as Signal[]).find((m) => m.member === 'PropertiesChanged' && m.path === '/org/spliced/Spliced1'),
      );
      const [iface, props] = changed.payload.data as [string, Record<string, { data: unknown }>];
      assert.equal(iface, 'org.spliced.Spliced1.Manager');
      assert.deepEqual(Object.keys(props).sort(), ['EffectiveVersion', 'RebootReasons', 'RebootRequired']);
      const r = await busctl(d.bus.address, ['get-property', ...MANAGER, 'EffectiveVersion', 'RebootRequired']);
      assert.equal(r.stdout, 's "6.1.160-1"\nb true\n');
    } finally {
      await watch.stop();
    }
  });
});

describe('Manager: Apply and Revert', () => {
  let d: Daemon;
  beforeEach(async () => {
    await d?.stop();
    d = await startDaemon();
  });
  after(() => d.stop());

  it('Apply queues a job whose progress, signals and result a client can follow', async () => {
    d.engine.applyOutcomes.set(d.file('fix.ko'), patchRecord('cccccccccccc'));
    const watch = await monitor(d.bus.address);
    try {
      const jobPath = await runJob(d, ['Apply', 'sa{sv}', d.file('fix.ko'), '0']);
      assert.equal(jobPath, '/org/spliced/Spliced1/job/1');
      assert.deepEqual(await jobProperty(d, jobPath, 'Patches'), ['cccccccccccc']);
      assert.equal(await jobProperty(d, jobPath, 'Progress'), 100);

      const signals = await eventually(() => {
        const all = watch.messages() as Signal[];
        return all.some((m) => m.member === 'Finished') ? all : undefined;
      });
      const finished = signals.find((m) => m.member === 'Finished')!;
      assert.equal(finished.path, jobPath);
      assert.deepEqual(finished.payload.data, ['succeeded', ['cccccccccccc'], '', '']);
      const applied = signals.find((m) => m.member === 'PatchApplied')!;
      assert.deepEqual(applied.payload.data, ['cccccccccccc', 'livepatch_cccccccccccc']);
      const progress = signals
        .filter((m) => m.member === 'PropertiesChanged' && m.path === jobPath)
        .map((m) => (m.payload.data[1] as Record<string, { data: unknown }>).Progress?.data)
        .filter((p) => p !== undefined);
      assert.deepEqual(progress, [40, 80, 100]);
    } finally {
      await watch.stop();
    }
    const [rows] = (await callJson(d, ['List'])) as [unknown[][]];
    assert.deepEqual(rows.map((r) => [r[0], r[2]]), [['cccccccccccc', 'applied']]);
    assert.deepEqual(d.engine.calls[0], {
      method: 'apply',
      target: d.file('fix.ko'),
      content: Buffer.from('module fix.ko'),
      options: { origin: 'dbus', requestedBy: d.engine.calls[0].options?.requestedBy, transitionTimeoutMs: undefined },
    });
    assert.match(String(d.engine.calls[0].options?.requestedBy), /^uid 0 via :1\.\d+$/);
  });

  it('a failed apply ends the job with the error name and sends PatchFailed', async () => {
    d.engine.applyOutcomes.set(d.file('old.ko'), new SplicedError('WrongKernel', 'built for 6.1.0-55-amd64'));
    const watch = await monitor(d.bus.address);
    try {
      const jobPath = await runJob(d, ['Apply', 'sa{sv}', d.file('old.ko'), '1', 'transition_timeout_ms', 'u', '5000']);
      assert.equal(await jobProperty(d, jobPath, 'ErrorName'), ERR + 'WrongKernel');
      assert.equal(await jobProperty(d, jobPath, 'ErrorMessage'), 'built for 6.1.0-55-amd64');
      const failed = await eventually(() => (watch.messages() as Signal[]).find((m) => m.member === 'PatchFailed'));
      assert.deepEqual(failed.payload.data, ['', '', d.file('old.ko'), ERR + 'WrongKernel', 'built for 6.1.0-55-amd64']);
    } finally {
      await watch.stop();
    }
    assert.equal((d.engine.calls[0].options as { transitionTimeoutMs?: number }).transitionTimeoutMs, 5000);
  });

  it('Apply passes source_version (the linux-source version a source patch is written against) to the engine', async () => {
    const before = d.engine.calls.length;
    await runJob(d, ['Apply', 'sa{sv}', d.file('old.ko'), '1', 'source_version', 's', '6.1.192-2']);
    assert.equal((d.engine.calls[before].options as { sourceVersion?: string }).sourceVersion, '6.1.192-2');
  });

  it('GetJobs lists the jobs queued or running, also those started without D-Bus', async () => {
    d.engine.stepMs = 300;
    d.engine.apply({ content: Buffer.from('dropped'), name: '/tmp/dropped.ko' }, { origin: 'drop-dir' });
    d.engine.apply({ content: Buffer.from('second'), name: '/tmp/second.ko' }, { origin: 'drop-dir' });
    assert.deepEqual(await callJson(d, ['GetJobs']), [['/org/spliced/Spliced1/job/1', '/org/spliced/Spliced1/job/2']]);
    assert.equal(await jobProperty(d, '/org/spliced/Spliced1/job/2', 'Target'), '/tmp/second.ko');
    await eventually(async () => ((await callJson(d, ['GetJobs']))[0] as string[]).length === 0 || undefined);
  });

  it('a signal that cannot be encoded is logged and does not disturb the engine', async () => {
    d.engine.applyOutcomes.set(d.file('odd.ko'), patchRecord('dddddddddddd', { name: undefined as unknown as string }));
    const jobPath = await runJob(d, ['Apply', 'sa{sv}', d.file('odd.ko'), '0']);
    assert.equal(await jobProperty(d, jobPath, 'State'), 'succeeded');
    assert.ok(d.logged.some((m) => m.startsWith('spliced could not encode signal PatchApplied')), d.logged.join('\n'));
  });

  it('finished jobs leave the bus after the linger time', async () => {
    await d.stop();
    d = await startDaemon({ jobLingerMs: 300 });
    d.engine.applyOutcomes.set(d.file('a.ko'), patchRecord('aaaaaaaaaaaa'));
    const jobPath = await runJob(d, ['Apply', 'sa{sv}', d.file('a.ko'), '0']);
    await eventually(async () => {
      const r = await busctl(d.bus.address, ['get-property', 'org.spliced.Spliced1', jobPath, 'org.spliced.Spliced1.Job', 'State']);
      return r.code !== 0 ? r : undefined;
    });
  });

  it('rejects bad arguments with InvalidArgument before doing anything', async () => {
    const cases: [string[], string][] = [
      [['relative/fix.ko', '{}'], 'the file path must be absolute, got "relative/fix.ko"'],
      [[d.file('a.ko'), "{'interactiv': <true>}"], 'unknown option "interactiv" (known: interactive, transition_timeout_ms, source_version)'],
      [[d.file('a.ko'), "{'interactive': <'yes'>}"], 'option "interactive" must have D-Bus type "b", not "s"'],
    ];
    for (const [args, message] of cases) {
      assert.deepEqual(await managerError(d.bus.address, 'Apply', args), { name: ERR + 'InvalidArgument', message });
    }
    assert.deepEqual(d.engine.calls, []);
    assert.deepEqual(d.authority.requests, []);
  });

  it('Revert keeps the stack order unless down_to is given, topmost first', async () => {
    d.engine.applyOutcomes.set(d.file('a.ko'), patchRecord('aaaaaaaaaaaa'));
    d.engine.applyOutcomes.set(d.file('b.ko'), patchRecord('bbbbbbbbbbbb'));
    await runJob(d, ['Apply', 'sa{sv}', d.file('a.ko'), '0']);
    await runJob(d, ['Apply', 'sa{sv}', d.file('b.ko'), '0']);

    const refused = await runJob(d, ['Revert', 'sa{sv}', 'aaaaaaaaaaaa', '0']);
    assert.equal(await jobProperty(d, refused, 'ErrorName'), ERR + 'RevertOrder');

    const both = await runJob(d, ['Revert', 'sa{sv}', 'livepatch_aaaaaaaaaaaa', '1', 'down_to', 'b', 'true']);
    assert.equal(await jobProperty(d, both, 'State'), 'succeeded');
    assert.deepEqual(await jobProperty(d, both, 'Patches'), ['bbbbbbbbbbbb', 'aaaaaaaaaaaa']);

    const unknown = await managerError(d.bus.address, 'Revert', ['nope', '{}']);
    assert.equal(unknown.name, ERR + 'NoSuchPatch');
  });
});

describe('Manager: authorisation', () => {
  let d: Daemon;
  beforeEach(async () => {
    await d?.stop();
    d = await startDaemon();
    d.engine.applyOutcomes.set(d.file('a.ko'), patchRecord('aaaaaaaaaaaa'));
    d.engine.patches = [patchRecord('bbbbbbbbbbbb')];
  });
  after(() => d.stop());

  it('asks the authority with the caller bus name and the action; List and GetPatch ask nothing', async () => {
    await callJson(d, ['List']);
    await callJson(d, ['GetPatch', 's', 'bbbbbbbbbbbb']);
    assert.equal(d.authority.requests.length, 0);

    await callJson(d, ['Apply', 'sa{sv}', d.file('a.ko'), '0']);
    await callJson(d, ['Revert', 'sa{sv}', 'bbbbbbbbbbbb', '0']);
    assert.deepEqual(d.authority.requests.map((r) => r.action), ['org.spliced.apply', 'org.spliced.revert']);
    for (const r of d.authority.requests) assert.match(r.sender, /^:1\.\d+$/);
  });

  it('lets polkit interact only when the call allows it (header flag or the interactive option)', async () => {
    await callJson(d, ['Apply', 'sa{sv}', d.file('a.ko'), '0']); // busctl sets ALLOW_INTERACTIVE_AUTHORIZATION
    await busctl(d.bus.address, ['call', '--allow-interactive-authorization=no', ...MANAGER, 'Apply', 'sa{sv}', d.file('a.ko'), '0']);
    await busctl(d.bus.address, ['call', '--allow-interactive-authorization=no', ...MANAGER, 'Apply', 'sa{sv}', d.file('a.ko'), '1', 'interactive', 'b', 'true']);
    assert.deepEqual(d.authority.requests.map((r) => r.interactive), [true, false, true]);
  });

  it('a denial is PermissionDenied and nothing reaches the engine', async () => {
    d.authority.verdict = 'no';
    const denied = await managerError(d.bus.address, 'Apply', [d.file('a.ko'), '{}']);
    assert.equal(denied.name, ERR + 'PermissionDenied');
    assert.match(denied.message, /^uid 0 via :1\.\d+ is not authorised for org\.spliced\.apply: polkit denies it$/);
    d.authority.verdict = 'challenge';
    const challenged = await managerError(d.bus.address, 'Revert', ['bbbbbbbbbbbb', '{}']);
    assert.equal(challenged.name, ERR + 'PermissionDenied');
    assert.match(challenged.message, /org\.spliced\.revert: authentication is required: retry interactively/);
    assert.deepEqual(d.engine.calls, []);
  });
});

describe('Manager: root callers', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ trustRoot: true });
    d.engine.applyOutcomes.set(d.file('a.ko'), patchRecord('aaaaaaaaaaaa'));
    d.authority.verdict = 'no';
  });
  after(() => d.stop());

  it('skip polkit, while an unprivileged caller is still asked (and here denied)', async () => {
    const asRoot = await callManager(d, ['Apply', 'sa{sv}', d.file('a.ko'), '0']);
    assert.equal(asRoot.code, 0, asRoot.stderr);
    assert.deepEqual(d.authority.requests, []);

    const asNobody = await callManager(d, ['Apply', 'sa{sv}', d.file('a.ko'), '0'], { uid: NOBODY });
    assert.notEqual(asNobody.code, 0);
    assert.match(asNobody.stderr, new RegExp(`uid ${NOBODY} via :1\\.\\d+ is not authorised for org\\.spliced\\.apply`));
    assert.equal(d.authority.requests.length, 1);
    assert.equal(d.engine.calls.length, 1);
  });
});
