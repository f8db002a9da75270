// The flood of test/guest/flood/ against the real daemon on a private bus with the system bus's policy, the client
// running as nobody: every call answered with the answer mix.ts expects, every descriptor given back, nothing
// changed. The host has no polkit on that bus, so polkit's "no" is spliced failing closed (PermissionDenied); the
// guest suite (test/guest/daemon/flood.sh) runs it with the real polkit and a real apply.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runFlood, type Report } from '../../guest/flood/run';
import { shippedPolicy, startPrivateBus, type PrivateBus } from '../../support/private-bus';
import { publicRepo } from '../../support/repo';
import { startSplicedDaemon, type SplicedDaemon } from '../../support/spliced-daemon';

const CALLS = 1200;

describe('a flood from an unprivileged client (real daemon, private bus)', () => {
  let bus: PrivateBus;
  let daemon: SplicedDaemon;
  let report: Report;
  let pid: number;
  const busctl = (...args: string[]) =>
    execFileSync('busctl', [`--address=${bus.address}`, '--json=short', 'call', 'org.spliced.Spliced1', '/org/spliced/Spliced1', 'org.spliced.Spliced1.Manager', ...args], {
      encoding: 'utf8',
    });
  let listBefore: string;
  let historyBefore: string;

  before(async () => {
    bus = await startPrivateBus(shippedPolicy());
    daemon = await startSplicedDaemon(bus.address);
    pid = daemon.child.pid!;
    listBefore = busctl('List');
    historyBefore = busctl('GetHistory', 'su', '', '0');
    report = await runFlood({
      pid,
      user: 'nobody',
      busAddress: bus.address,
      clientPath: path.join(publicRepo(), 'dist/test/guest/flood/client.js'),
      flood: { calls: CALLS, connections: 3, window: 16, abandoned: 2, file: '/etc/hostname', deadlineMs: 30_000 },
      rounds: 1,
      idleSamples: 20,
      settleMs: 10_000,
    });
  });
  after(async () => {
    await daemon?.remove();
    await bus?.stop();
  });

  it('the daemon stays up, the same process', () => {
    assert.equal(report.alive, true);
    assert.equal(daemon.child.exitCode, null, daemon.log().slice(-3000));
    assert.equal(report.rounds.length, 1);
  });

  it('every call is answered: a reply or a named D-Bus error, each the one expected', () => {
    const { flood } = report.rounds[0];
    assert.equal(flood.calls, CALLS);
    assert.equal(flood.unanswered, 0);
    const errors = Object.values(flood.errors).reduce((a, b) => a + b, 0);
    assert.equal(flood.replies + errors, CALLS);
    assert.deepEqual(flood.mismatches, {});
    for (const name of Object.keys(flood.errors)) assert.match(name, /^org\.(spliced\.Spliced1|freedesktop\.DBus)\.Error\.[A-Za-z]+$/);
    assert.ok(flood.replies > 0 && errors > 0, JSON.stringify(flood));
  });

  it('every descriptor comes back: the fd count returns to its value before the flood', () => {
    const { daemon: usage } = report.rounds[0];
    assert.ok(usage.settleMs >= 0, `fd count ${usage.afterFlood.fds} after the flood, ${usage.before.fds} before`);
    assert.ok(usage.afterFlood.fds <= usage.before.fds);
  });

  it('List was answered throughout', () => {
    const { latency } = report.rounds[0];
    assert.equal(latency.idle.samples, 20);
    assert.ok(latency.flood.samples > 0);
  });

  it('nothing was applied or recorded by the unprivileged client', () => {
    assert.equal(busctl('List'), listBefore);
    assert.equal(busctl('GetHistory', 'su', '', '0'), historyBefore);
    assert.equal(busctl('GetJobs'), '{"type":"ao","data":[[]]}\n');
  });
});
