// The distro feed in the daemon (src/sources/feed/feed.ts) over the real engine and store with the fake kernel: apt's
// view and the plan are scripted (the real ones: apt-view.test.ts, real-delta.test.ts, the guest), the builder is
// the engine tests' fake that "builds" a module declaring the patch header's Spliced-Version and refuses fs/bad.c.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parsePatchHeader } from '../../../src/build/patch/header';
import { SplicedError } from '../../../src/errors';
import type { FeedView } from '../../../src/sources/feed/apt-view';
import { DistroFeed } from '../../../src/sources/feed/feed';
import { FeedState } from '../../../src/sources/feed/feed-state';
import type { FeedPlan, PlanRunner } from '../../../src/sources/feed/plan';
import { parseApplyWindow, type FeedSettings } from '../../../src/sources/feed/policy';
import { FakeBuilder } from '../engine/fake-builder';
import { writeModule } from '../engine/fake-kernel';
import { fileInput, newMachine, reboot, startEngine, type Machine, type Running } from '../engine/harness';

const BASE = '6.1.158-1';
const TARGET = '6.1.159-1';

function diff(file: string): string {
  return [`--- a/${file}`, `+++ b/${file}`, '@@ -1,1 +1,1 @@', '-old', '+new', ''].join('\n');
}

function plan(files: string[], target = TARGET): FeedPlan {
  return {
    report: {
      target: { sourceVersion: target },
      changelog: [
        {
          version: target,
          cves: ['CVE-2026-1111', 'CVE-2026-2222'],
          lines: files.map((f, i) => ({ text: `fix ${path.basename(f)} (CVE-2026-${i + 1}${i + 1}${i + 1}${i + 1})`, cves: [`CVE-2026-${i + 1}${i + 1}${i + 1}${i + 1}`], files: [f] })),
        },
      ],
      delta: { files: files.map((f) => ({ path: f, kind: 'compiled', change: 'modified' })), buildFiles: [] },
    },
    patchText: files.map(diff).join(''),
  };
}

function view(offered: string[]): FeedView {
  return {
    running: { release: '6.1.0-56-amd64', series: '6.1', abi: 56, flavour: 'amd64', sourceVersion: BASE, imagePackage: 'linux-image-6.1.0-56-amd64' },
    sourcePackage: 'linux-source-6.1',
    newerSourceVersions: offered,
    ...(offered.length > 0 && { targetSourceVersion: offered.at(-1) }),
    images: offered.map((v, i) => ({ package: `linux-image-6.1.0-${57 + i}-amd64`, abi: 57 + i, version: v, builtFrom: v })),
  };
}

/** Modules declare the header's version; a patch touching fs/bad.c is refused as the builder would. */
function builder(): FakeBuilder {
  const b = new FakeBuilder();
  b.outcome = (text) => {
    if (text.includes('fs/bad.c')) throw new SplicedError('UnsafePatch', 'changes the layout of struct bad');
    const { version } = parsePatchHeader(text);
    return { name: `feed_${createHash('sha256').update(text).digest('hex').slice(0, 12)}`, ...(version && { fields: { 'spliced.version': [version] } }) };
  };
  return b;
}

interface Setup {
  running: Running;
  feed: DistroFeed;
  builder: FakeBuilder;
  plans: string[];
  views: number;
  announced: string[];
  /** What apt offers at the next refresh. */
  offered: string[];
  machine: Machine;
}

async function setup(settings: Partial<FeedSettings>, options: { files?: string[]; offered?: string[]; disabledReason?: string; now?: () => Date } = {}): Promise<Setup> {
  const machine = newMachine();
  const running = await startEngine(machine, { disabledReason: options.disabledReason ?? null });
  const b = builder();
  const s: Partial<Setup> = { running, builder: b, plans: [], views: 0, announced: [], offered: options.offered ?? [TARGET], machine };
  const planner: PlanRunner = async (_running, target) => {
    s.plans!.push(target);
    return plan(options.files ?? ['fs/ext4/mballoc.c'], target);
  };
  const feed = new DistroFeed({
    settings: { policy: 'auto', pinVersion: null, delaySeconds: 0, applyWindow: null, ...settings },
    engine: running.engine,
    builder: b,
    view: async () => {
      s.views!++;
      return view(s.offered!);
    },
    plan: planner,
    state: new FeedState(path.join(machine.dir, 'feed')),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    setRebootReasons: (reasons) => running.engine.setSourceRebootReasons(reasons),
    debounceMs: 20,
    ...(options.now && { now: options.now }),
  });
  feed.on('update-available', (o) => s.announced!.push(`${o.sourceVersion} ${o.imagePackage} ${o.policy}`));
  s.feed = feed;
  return s as Setup;
}

async function refreshed(s: Setup): Promise<void> {
  s.feed.refresh('test');
  await s.feed.idle();
}

describe('distro feed', () => {
  it('auto: builds the delta as one splice, applies it as origin feed, and EffectiveVersion reaches the target', async () => {
    const s = await setup({ policy: 'auto' });
    await refreshed(s);
    const status = s.running.engine.status();
    assert.equal(status.effectiveVersion, TARGET);
    assert.equal(status.rebootRequired, false);
    const [patch] = s.running.engine.list();
    assert.equal(patch.origin, 'feed');
    assert.equal(patch.state, 'applied');
    assert.equal(patch.version, TARGET);
    assert.deepEqual(s.announced, [`${TARGET} linux-image-6.1.0-57-amd64 auto`]);
    assert.equal(s.builder.calls.length, 1);
    assert.match(s.builder.calls[0].patchText, /^Subject: Debian linux 6\.1\.159-1 from 6\.1\.158-1/);
    assert.deepEqual(s.feed.status().offered, { sourceVersion: TARGET, imagePackage: 'linux-image-6.1.0-57-amd64' });
    assert.equal(s.feed.status().pending, null);
    // Nothing new: a second refresh neither builds nor applies again, nor announces again.
    await refreshed(s);
    assert.equal(s.builder.calls.length, 1);
    assert.equal(s.running.engine.list().length, 1);
    assert.equal(s.announced.length, 1);
  });

  it('a file the builder refuses needs a reboot, named by its changelog line and CVE; the other fixes still apply', async () => {
    const s = await setup({ policy: 'auto' }, { files: ['fs/ext4/mballoc.c', 'fs/bad.c', 'mm/page_alloc.c'] });
    await refreshed(s);
    const status = s.running.engine.status();
    assert.equal(status.rebootRequired, true);
    assert.equal(status.rebootReasons.length, 1);
    assert.match(status.rebootReasons[0], /Debian 6\.1\.159-1 "fix bad\.c \(CVE-2026-2222\)" \(CVE-2026-2222\): fs\/bad\.c cannot be spliced \(UnsafePatch: changes the layout of struct bad\)/);
    // Not every fix is live: the splice declares no version, so EffectiveVersion stays.
    assert.equal(status.effectiveVersion, BASE);
    const [patch] = s.running.engine.list();
    assert.equal(patch.state, 'applied');
    assert.equal(patch.version, null);
    // One whole try, one per file, one of the two accepted files together.
    assert.equal(s.builder.calls.length, 5);
    const last = s.builder.calls.at(-1)!.patchText;
    assert.ok(last.includes('a/fs/ext4/mballoc.c') && last.includes('a/mm/page_alloc.c') && !last.includes('fs/bad.c'));
    assert.ok(!last.includes('CVE-2026-2222'), 'the refused fix is not claimed by the splice');
  });

  it('build: builds and waits for an administrator; notify and off build nothing', async () => {
    const built = await setup({ policy: 'build' });
    await refreshed(built);
    assert.equal(built.running.engine.list().length, 0);
    assert.equal(built.builder.calls.length, 1);
    assert.match(built.feed.status().pending!, /6\.1\.159-1: built, waiting for an administrator: splicectl apply .*splice-6\.1\.159-1\.ko/);

    const notify = await setup({ policy: 'notify' });
    await refreshed(notify);
    assert.equal(notify.builder.calls.length, 0);
    assert.deepEqual(notify.plans, []);
    assert.deepEqual(notify.announced, [`${TARGET} linux-image-6.1.0-57-amd64 notify`]);
    assert.match(notify.feed.status().pending!, /6\.1\.159-1 is offered \(feed_policy notify/);

    const off = await setup({ policy: 'off' });
    await refreshed(off);
    assert.equal(off.views, 0, 'policy off does not even ask apt');
    assert.equal(off.feed.status().activity, 'off');
  });

  it('the kill switch stops the feed before it asks apt', async () => {
    const s = await setup({ policy: 'auto' }, { disabledReason: '/etc/spliced/disable exists' });
    await refreshed(s);
    assert.equal(s.views, 0);
    assert.equal(s.feed.status().activity, 'disabled');
    assert.equal(s.builder.calls.length, 0);
  });

  it('a pinned version is the newest it targets', async () => {
    const s = await setup({ policy: 'auto', pinVersion: TARGET }, { offered: [TARGET, '6.1.160-1'] });
    await refreshed(s);
    assert.deepEqual(s.plans, [TARGET]);
    assert.equal(s.running.engine.status().effectiveVersion, TARGET);
  });

  it('feed_delay counts from when the version was first seen; the apply window holds a built splice', async () => {
    let now = new Date('2026-11-30T12:00:00');
    const s = await setup({ policy: 'auto', delaySeconds: 3600, applyWindow: parseApplyWindow('02:00-04:00') }, { now: () => now });
    await refreshed(s);
    assert.equal(s.feed.status().activity, 'waiting');
    assert.match(s.feed.status().pending!, /feed_delay 3600 s/);
    assert.deepEqual(s.plans, []);
    now = new Date('2026-11-30T13:00:01');
    await refreshed(s);
    assert.deepEqual(s.plans, [TARGET]);
    assert.match(s.feed.status().pending!, /built, waiting for the apply window 02:00-04:00/);
    assert.equal(s.running.engine.list().length, 0);
    now = new Date('2026-12-01T02:30:00');
    await refreshed(s);
    assert.equal(s.running.engine.status().effectiveVersion, TARGET);
    assert.equal(s.builder.calls.length, 1, 'built once, applied later');
    await s.feed.stop();
  });

  it('a refresh asked for while one runs is queued once, not doubled', async () => {
    const s = await setup({ policy: 'auto' });
    let release!: () => void;
    s.builder.hold = new Promise((r) => (release = r));
    assert.equal(s.feed.refresh('apt hook'), 'scheduled');
    assert.equal(s.feed.refresh('apt hook again'), 'joined');
    while (s.builder.calls.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.feed.status().activity, 'building');
    assert.equal(s.feed.refresh('apt update during the build'), 'queued');
    assert.equal(s.feed.refresh('and another'), 'joined');
    release();
    await s.feed.idle();
    assert.equal(s.views, 2, 'two refreshes in all');
    assert.equal(s.builder.calls.length, 1, 'one build');
    assert.equal(s.running.engine.list().length, 1);
  });

  it('remembers what it built and first saw across a restart', async () => {
    const s = await setup({ policy: 'build' });
    await refreshed(s);
    const memory = JSON.parse(fs.readFileSync(path.join(path.dirname(s.feed.status().pending!.split(' ').at(-1)!), 'state.json'), 'utf8'));
    assert.equal(memory.built.target, TARGET);
    assert.ok(memory.firstSeen[TARGET]);
  });

  it("one feed splice per kernel: a newer target's splice goes on top and retires the older one, user patches stay", async () => {
    const s = await setup({ policy: 'auto' });
    await refreshed(s);
    const [first] = s.running.engine.list();
    const user = await s.running.engine.apply(fileInput(writeModule(s.machine.dir, { name: 'user_fix' })), { origin: 'dbus' }).done;
    assert.equal(user.error, null);
    s.offered.push('6.1.160-1');
    await refreshed(s);
    const byId = new Map(s.running.engine.list().map((p) => [p.id, p]));
    assert.equal(byId.get(first.id)!.state, 'superseded', 'the older feed splice is retired although a user patch is above it');
    assert.equal(byId.get(user.result!.patches[0].id)!.state, 'applied');
    const newest = [...byId.values()].find((p) => p.version === '6.1.160-1')!;
    assert.equal(newest.state, 'applied');
    assert.equal(newest.origin, 'feed');
    assert.equal(s.running.engine.status().effectiveVersion, '6.1.160-1');
    assert.deepEqual(s.running.engine.history({ patchId: first.id, limit: 1 }).map((e) => [e.kind, e.reason]), [['superseded', `replaced by ${newest.id}`]]);
    // A clean reboot reapplies the user patch and the newest feed splice only.
    await s.feed.stop();
    await s.running.engine.stop();
    const after = await startEngine(reboot(s.machine));
    assert.deepEqual(after.engine.status().applied, [user.result!.patches[0].id, newest.id]);
    assert.equal(after.engine.status().effectiveVersion, '6.1.160-1');
  });
});
