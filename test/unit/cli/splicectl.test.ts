// splicectl as an admin runs it: the built binary against the adapter serving a FakeEngine on a private bus.
// Asserts what it prints, its --json, and its documented exit codes (docs/cli.md).

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SplicedError } from '../../../src/errors';
import { patchRecord } from '../bus/fake-engine';
import { shippedPolicy, startPrivateBus } from '../../support/private-bus';
import { FakeFeed } from '../bus/fake-feed';
import { eventually, monitor, NOBODY, REPO, run, startDaemon, type Daemon, type RunOptions, type RunResult } from '../bus/harness';
import { splicectlMain } from '../../support/repo';

const MAIN = path.join(REPO, 'dist/src/cli/main.js');
/** Slow enough for splicectl to subscribe to the job before its first step, even on a busy machine. */
const SEEN_STEP_MS = 400;

function splicectl(d: Daemon, args: string[], options: RunOptions = {}) {
  return run(process.execPath, [splicectlMain(options.uid), ...args], {
    ...options,
    env: { SPLICED_BUS_ADDRESS: d.bus.address, ...options.env },
  });
}

/** Start `splicectl apply` and resolve once it follows the job (it has read the job's properties). */
async function followingJob(d: Daemon): Promise<{ finished: Promise<RunResult> }> {
  const watch = await monitor(d.bus.address);
  const finished = splicectl(d, ['apply', d.file('patches/a.ko')]);
  try {
    await eventually(() => watch.messages().some((m) => m.member === 'GetAll' && m.path === '/org/spliced/Spliced1/job/1') || undefined, 15_000);
  } finally {
    await watch.stop();
  }
  // Wrapped: an async function returning the promise itself would wait for splicectl to end.
  return { finished };
}

async function json(d: Daemon, args: string[], expectedExit = 0): Promise<any> {
  const r = await splicectl(d, [...args, '--json']);
  assert.equal(r.code, expectedExit, `exit code of ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('splicectl reads', () => {
  let d: Daemon;
  beforeEach(async () => {
    await d?.stop();
    d = await startDaemon();
  });
  after(() => d.stop());

  it('status: exit 2 when nothing is applied, 0 when up to date, 3 when patches are pending, 4 without livepatch', async () => {
    assert.equal((await json(d, ['status'], 2)).verdict, 'nothing-applied');

    d.engine.patches = [patchRecord('aaaaaaaaaaaa')];
    d.engine.setStatus({ applied: ['aaaaaaaaaaaa'], effectiveVersion: '6.1.160-1' });
    const upToDate = await splicectl(d, ['status']);
    assert.equal(upToDate.code, 0);
    assert.match(upToDate.stdout, /^Effective version: +6\.1\.160-1$/m);
    assert.match(upToDate.stdout, /^Status: +up to date$/m);

    d.engine.patches.push(patchRecord('bbbbbbbbbbbb', { state: 'not-loaded', stackPosition: 2 }));
    d.engine.setStatus({ heldByCrashGuard: ['bbbbbbbbbbbb'] });
    const pending = await json(d, ['status'], 3);
    assert.deepEqual(
      { verdict: pending.verdict, pending: pending.pendingPatches, held: pending.heldByCrashGuard, applied: pending.appliedPatches },
      { verdict: 'updates-pending', pending: ['bbbbbbbbbbbb'], held: ['bbbbbbbbbbbb'], applied: ['aaaaaaaaaaaa'] },
    );

    d.engine.setStatus({ livepatchSupported: false });
    const unsupported = await splicectl(d, ['status']);
    assert.equal(unsupported.code, 4);
    assert.match(unsupported.stdout, /^Status: +unsupported kernel/m);
  });

  it('status says plainly whether module signatures are required, why, and with which key built splices are signed', async () => {
    const signatures = async () => (await splicectl(d, ['status'])).stdout.match(/^Module signatures: +(.*)$/m)?.[1];
    assert.equal(await signatures(), 'not required; signing key: none');
    d.engine.setStatus({ moduleSignatures: { required: true, lockdown: 'integrity', sigEnforce: false, signingKey: '/var/lib/dkms/mok.key' } });
    assert.equal(await signatures(), 'required (lockdown: integrity); signing key: /var/lib/dkms/mok.key');
    d.engine.setStatus({ moduleSignatures: { required: true, lockdown: 'none', sigEnforce: true, signingKey: null } });
    assert.equal(await signatures(), 'required (module.sig_enforce); no signing key: source patches are refused');
    const status = await json(d, ['status'], 2);
    assert.deepEqual(
      { moduleSignatures: status.moduleSignatures, lockdown: status.lockdown, signingKey: status.signingKey, supported: status.livepatchSupported },
      { moduleSignatures: 'required', lockdown: 'none', signingKey: null, supported: true },
    );
  });

  it('list and show print the patches, --json gives the documented records', async () => {
    d.engine.patches = [
      patchRecord('aaaaaaaaaaaa'),
      patchRecord('bbbbbbbbbbbb', { state: 'reverted', stackPosition: null, appliedAt: null, origin: 'feed', cves: ['CVE-2026-0001', 'CVE-2026-0002'] }),
    ];
    const text = await splicectl(d, ['list']);
    assert.equal(text.code, 0);
    const lines = text.stdout.trim().split('\n');
    assert.match(lines[0], /^POS +ID +MODULE +STATE +VERSION +ORIGIN +CVES +DESCRIPTION$/);
    assert.match(lines[1], /^1 +aaaaaaaaaaaa +livepatch_aaaaaaaaaaaa +applied +6\.1\.160-1 +dbus +CVE-2026-0001 +fix aaaaaaaaaaaa$/);
    assert.match(lines[2], /^- +bbbbbbbbbbbb .* reverted +6\.1\.160-1 +feed +CVE-2026-0001,CVE-2026-0002 /);

    assert.deepEqual((await json(d, ['list']))[1], {
      id: 'bbbbbbbbbbbb', name: 'livepatch_bbbbbbbbbbbb', state: 'reverted', stateReason: null,
      kernelRelease: '6.1.0-56-amd64', stackPosition: null, version: '6.1.160-1', description: 'fix bbbbbbbbbbbb',
      appliedAt: null, origin: 'feed', cves: ['CVE-2026-0001', 'CVE-2026-0002'],
    });
    const shown = await json(d, ['show', 'livepatch_aaaaaaaaaaaa']);
    assert.equal(shown.id, 'aaaaaaaaaaaa');
    assert.equal(shown.appliedAt, '2026-11-20T10:00:01.000Z');
    assert.deepEqual(shown.functions, [{ object: 'vmlinux', name: 'cmdline_proc_show', sympos: 0 }]);
    assert.deepEqual(shown.cves, ['CVE-2026-0001']);
  });

  it('an unknown id: message and kind on stderr, the error as JSON, exit 1', async () => {
    const r = await splicectl(d, ['show', 'nope', '--json']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'splicectl: no patch "nope" is known (NoSuchPatch)\n');
    assert.deepEqual(JSON.parse(r.stdout), {
      error: { kind: 'NoSuchPatch', name: 'org.spliced.Spliced1.Error.NoSuchPatch', message: 'no patch "nope" is known' },
    });
  });

  it('log filters by patch and limit; uname prints the effective version', async () => {
    d.engine.applyOutcomes.set(d.file('a.ko'), patchRecord('aaaaaaaaaaaa'));
    d.engine.applyOutcomes.set(d.file('b.ko'), patchRecord('bbbbbbbbbbbb'));
    assert.equal((await splicectl(d, ['apply', d.file('a.ko')])).code, 0);
    assert.equal((await splicectl(d, ['apply', d.file('b.ko')])).code, 0);
    const all = await json(d, ['log']);
    assert.deepEqual(all.map((e: { kind: string; patchId: string }) => [e.kind, e.patchId]), [
      ['applied', 'bbbbbbbbbbbb'],
      ['applied', 'aaaaaaaaaaaa'],
    ]);
    const [header, newest] = (await splicectl(d, ['log'])).stdout.trim().split('\n');
    assert.match(header, /^TIME +EVENT +ID +MODULE +DETAILS$/);
    assert.match(newest, / applied +bbbbbbbbbbbb +livepatch_bbbbbbbbbbbb /);
    assert.equal((await json(d, ['log', '--limit=1'])).length, 1);
    assert.deepEqual((await json(d, ['log', 'aaaaaaaaaaaa'])).map((e: { seq: number }) => e.seq), [1]);

    d.engine.setStatus({ effectiveVersion: '6.1.160-1' });
    assert.equal((await splicectl(d, ['uname'])).stdout, '6.1.160-1\n');
    assert.equal((await splicectl(d, ['uname', '-r'])).stdout, '6.1.0-56-amd64\n');
    assert.equal((await splicectl(d, ['uname', '-a'])).stdout, 'Linux version 6.1.0-56-amd64 (Debian 6.1.160-1)\n');
  });
});

describe('splicectl apply and revert', () => {
  let d: Daemon;
  beforeEach(async () => {
    await d?.stop();
    d = await startDaemon();
    d.engine.applyOutcomes.set(d.file('patches/a.ko'), patchRecord('aaaaaaaaaaaa'));
    d.engine.applyOutcomes.set(d.file('patches/b.ko'), patchRecord('bbbbbbbbbbbb'));
  });
  after(() => d.stop());

  it('apply resolves the file against the working directory and shows progress until the job ends', async () => {
    d.engine.stepMs = SEEN_STEP_MS;
    const r = await splicectl(d, ['apply', 'patches/a.ko'], { cwd: d.files });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Applied: aaaaaaaaaaaa\n');
    assert.match(r.stderr, /^\[ 40%\] loading the module$/m);
    assert.match(r.stderr, /^\[ 80%\] waiting for the livepatch transition$/m);
    assert.equal(d.engine.calls[0].target, d.file('patches/a.ko'));
    // Not on a terminal: polkit must not try to ask for a password.
    assert.equal(d.authority.requests[0].interactive, false);
  });

  it('on a terminal, a non-root user lets polkit ask (pkttyagent started) and progress rewrites one line', async () => {
    d.engine.stepMs = SEEN_STEP_MS;
    // script(1) gives splicectl a terminal; stdout and stderr both arrive on it.
    const onTty = (args: string) =>
      run('script', ['-qec', `${process.execPath} ${splicectlMain(NOBODY)} ${args}`, '/dev/null'], {
        uid: NOBODY,
        env: { SPLICED_BUS_ADDRESS: d.bus.address, HOME: '/tmp' },
      });
    const r = await onTty(`apply ${d.file('patches/a.ko')}`);
    assert.equal(r.code, 0, r.stdout);
    assert.ok(r.stdout.includes('\r\x1b[K[ 40%] loading the module\r\x1b[K[ 80%] waiting'), JSON.stringify(r.stdout));
    assert.match(r.stdout, /\r\x1b\[KApplied: aaaaaaaaaaaa\r\n$/);
    await onTty(`apply ${d.file('patches/b.ko')} --no-ask-password`);
    assert.deepEqual(d.authority.requests.map((q) => q.interactive), [true, false]);
  });

  it('--json prints only the result; --no-wait only the job', async () => {
    const r = await splicectl(d, ['apply', d.file('patches/a.ko'), '--json']);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout), {
      job: '/org/spliced/Spliced1/job/1', kind: 'apply', target: d.file('patches/a.ko'), state: 'succeeded',
      patches: ['aaaaaaaaaaaa'],
    });
    assert.deepEqual(await json(d, ['apply', d.file('patches/b.ko'), '--no-wait']), { job: '/org/spliced/Spliced1/job/2' });
  });

  it('a failed job exits with its kind: 1 for WrongKernel, 75 for Busy', async () => {
    d.engine.applyOutcomes.set(d.file('old.ko'), new SplicedError('WrongKernel', 'built for 6.1.0-55-amd64'));
    d.engine.applyOutcomes.set(d.file('busy.ko'), new SplicedError('Busy', 'another livepatch transition is in progress'));
    const wrong = await splicectl(d, ['apply', d.file('old.ko')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /\nsplicectl: built for 6\.1\.0-55-amd64 \(WrongKernel\)\n$/);
    const busy = await json(d, ['apply', d.file('busy.ko')], 75);
    assert.deepEqual(busy.error, {
      kind: 'Busy', name: 'org.spliced.Spliced1.Error.Busy', message: 'another livepatch transition is in progress',
      job: '/org/spliced/Spliced1/job/2',
    });
  });

  it('apply --source-version=V sends source_version; the daemon refuses a version that is not one, exit 64', async () => {
    const before = d.engine.calls.length;
    await json(d, ['apply', d.file('patches/a.ko'), '--source-version=6.1.192-2']);
    assert.equal((d.engine.calls[before].options as { sourceVersion?: string }).sourceVersion, '6.1.192-2');
    const bad = await splicectl(d, ['apply', d.file('patches/a.ko'), '--source-version', '6.1;reboot']);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /option "source_version" must be a Debian package version \(like 6\.1\.192-2\), got "6\.1;reboot" \(InvalidArgument\)\n$/);
    assert.equal(d.engine.calls.length, before + 1, 'nothing queued for the bad one');
  });

  it('revert keeps the stack order; --down-to reverts the patches above first', async () => {
    await json(d, ['apply', d.file('patches/a.ko')]);
    await json(d, ['apply', d.file('patches/b.ko')]);
    const refused = await splicectl(d, ['revert', 'aaaaaaaaaaaa']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /splicectl: revert bbbbbbbbbbbb first \(RevertOrder\)\n$/);
    const both = await json(d, ['revert', 'aaaaaaaaaaaa', '--down-to']);
    assert.deepEqual(both.patches, ['bbbbbbbbbbbb', 'aaaaaaaaaaaa']);
  });

  it('exit 77 when polkit says no', async () => {
    d.authority.verdict = 'no';
    const r = await splicectl(d, ['revert', 'x', '--no-ask-password']);
    assert.equal(r.code, 1, 'an unknown id fails before authorisation');
    d.engine.patches = [patchRecord('aaaaaaaaaaaa')];
    const denied = await splicectl(d, ['revert', 'aaaaaaaaaaaa']);
    assert.equal(denied.code, 77);
    assert.match(denied.stderr, /is not authorised for org\.spliced\.revert: polkit denies it \(PermissionDenied\)\n$/);
  });

  it('exit 69 when spliced leaves the bus while the job runs', async () => {
    d.engine.stepMs = 5_000;
    const { finished } = await followingJob(d);
    await d.handle.stop();
    const r = await finished;
    assert.equal(r.code, 69);
    assert.match(r.stderr, /splicectl: spliced left the bus while the job was running \(Unavailable\)\n$/);
  });

  it('exit 69 when the bus itself goes away; the daemon side hears of it too', async () => {
    d.engine.stepMs = 5_000;
    const { finished } = await followingJob(d);
    await d.bus.crash();
    const r = await finished;
    assert.equal(r.code, 69);
    assert.match(r.stderr, /\nsplicectl: lost the D-Bus connection: the bus closed it \(Unavailable\)\n$/);
    await eventually(() => (d.lost.length > 0 ? true : undefined));
    assert.equal(d.lost[0].kind, 'Unavailable');
  });
});

describe('splicectl without a daemon', () => {
  it('exit 69 when nothing owns the name, 64 on a wrong command line', async () => {
    const bus = await startPrivateBus(shippedPolicy());
    try {
      const env = { SPLICED_BUS_ADDRESS: bus.address };
      const r = await run(process.execPath, [MAIN, 'list'], { env });
      assert.equal(r.code, 69);
      assert.match(r.stderr, /^splicectl: spliced is not reachable: .*org\.spliced\.Spliced1.* \(Unavailable\)\n$/);
      const viaFlag = await run(process.execPath, [MAIN, `--bus-address=${bus.address}`, 'status'], { env: { SPLICED_BUS_ADDRESS: 'unix:path=/nonexistent' } });
      assert.equal(viaFlag.code, 69, 'the flag wins over the environment and reaches the bus');
      assert.match(viaFlag.stderr, /spliced is not reachable/);
    } finally {
      await bus.stop();
    }
    for (const args of [[], ['frob'], ['show'], ['list', 'extra'], ['list', '--down-to'], ['revert', 'x', '--source-version=6.1.192-2'], ['log', '--limit=0'], ['uname', '-r', '-a']]) {
      const r = await run(process.execPath, [MAIN, ...args], { env: { SPLICED_BUS_ADDRESS: 'unix:path=/nonexistent' } });
      assert.equal(r.code, 64, `splicectl ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^splicectl: .* \(InvalidArgument\)\n$/);
    }
  });
});

describe('splicectl and the distro feed', () => {
  let d: Daemon;
  let feed: FakeFeed;
  before(async () => {
    feed = new FakeFeed();
    d = await startDaemon({ feed });
  });
  after(() => d.stop());

  it('refresh asks the feed and says what became of it; as nobody it is refused (77)', async () => {
    const r = await splicectl(d, ['refresh']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Refresh requested: the feed looks at apt's lists now/);
    const again = JSON.parse((await splicectl(d, ['--json', 'refresh'])).stdout) as { refresh: string };
    // Joined when it came within the debounce, else a refresh of its own (splicectl takes a while to start).
    assert.ok(['joined', 'scheduled'].includes(again.refresh), again.refresh);
    await feed.gate.idle();
    assert.equal(feed.refreshes, again.refresh === 'joined' ? 1 : 2);
    d.authority.verdict = 'no';
    const denied = await splicectl(d, ['refresh', '--no-ask-password'], { uid: NOBODY });
    assert.equal(denied.code, 77, denied.stderr);
    assert.match(denied.stderr, /org\.spliced\.refresh: polkit denies it \(PermissionDenied\)/);
    d.authority.verdict = 'yes';
  });

  it('status shows what the feed offers and what is pending', async () => {
    feed.set({
      offered: { sourceVersion: '6.1.192-2', imagePackage: 'linux-image-6.1.0-56-amd64' },
      activity: 'waiting',
      pending: '6.1.192-2: built, waiting for the apply window 02:00-04:00',
      lastRefresh: '2026-11-30T21:10:00.250Z',
    });
    const r = await splicectl(d, ['status']);
    assert.match(r.stdout, /^Distro feed: +policy auto, pinned to 6\.1\.192-9, delay 3600 s, applies 02:00-04:00; 6\.1\.192-2 offered \(linux-image-6\.1\.0-56-amd64\); waiting; last looked 2026-11-30T21:10:00\.250Z$/m);
    assert.match(r.stdout, /^Feed pending: +6\.1\.192-2: built, waiting for the apply window 02:00-04:00$/m);
    const json = JSON.parse((await splicectl(d, ['--json', 'status'])).stdout);
    assert.deepEqual(json.feed, {
      policy: 'auto', pinVersion: '6.1.192-9', delaySeconds: 3600, applyWindow: '02:00-04:00', state: 'waiting',
      offered: '6.1.192-2', offeredImage: 'linux-image-6.1.0-56-amd64', pending: '6.1.192-2: built, waiting for the apply window 02:00-04:00', lastError: null,
      lastRefresh: '2026-11-30T21:10:00.250Z',
    });
  });
});
