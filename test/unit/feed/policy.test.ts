import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseTarget, msUntilWindow, parseApplyWindow } from '../../../src/sources/feed/policy';
import { RefreshGate } from '../../../src/sources/feed/refresh-gate';

describe('feed policy', () => {
  it('targets the newest offered version within the pin', () => {
    assert.equal(chooseTarget(['6.1.192-2', '6.1.192-10', '6.1.192-3'], null), '6.1.192-10');
    assert.equal(chooseTarget(['6.1.192-2', '6.1.192-10', '6.1.192-3'], '6.1.192-3'), '6.1.192-3');
    assert.equal(chooseTarget(['6.1.192-3'], '6.1.192-2'), undefined);
  });

  it('parses daily windows, also across midnight, and says how long until one opens', () => {
    const night = parseApplyWindow('22:00-04:00');
    assert.equal(msUntilWindow(night, new Date('2026-11-30T23:30:00')), 0);
    assert.equal(msUntilWindow(night, new Date('2026-11-30T03:59:00')), 0);
    assert.equal(msUntilWindow(night, new Date('2026-11-30T04:00:00')), 18 * 3600 * 1000);
    const day = parseApplyWindow('02:00-04:00');
    assert.equal(msUntilWindow(day, new Date('2026-11-30T05:00:00')), 21 * 3600 * 1000);
    assert.equal(msUntilWindow(null, new Date()), 0);
    for (const bad of ['2:00-4:00', '02:00', '02:00-02:00', '24:00-01:00', '02:00-03:00-04:00']) assert.throws(() => parseApplyWindow(bad), bad);
  });
});

describe('refresh gate', () => {
  it('a burst runs one refresh; one asked during it runs once after; an older cause is covered', async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new RefreshGate(async () => {
      runs++;
      await new Promise<void>((r) => (release = r));
    }, 20);
    const before = Date.now() - 1000;
    assert.deepEqual([gate.request(), gate.request(), gate.request()], ['scheduled', 'joined', 'joined']);
    while (runs === 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(gate.request(before), 'covered');
    assert.deepEqual([gate.request(), gate.request()], ['queued', 'joined']);
    release();
    while (runs === 1) await new Promise((r) => setTimeout(r, 5));
    release();
    await gate.idle();
    assert.equal(runs, 2);
  });
});
