// The queue behind fair dispatch (src/bus/fair-queue.ts): order within a connection, turns across callers and across
// one caller's connections, the per-caller bounds, and dropping a connection's calls.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairQueue } from '../../../src/bus/fair-queue';

const ROOMY = { maxItems: 1000, maxBytes: 1_000_000 };

function drain<T>(queue: FairQueue<unknown, T>): T[] {
  const out: T[] = [];
  for (let item = queue.next(); item !== undefined; item = queue.next()) out.push(item);
  return out;
}

describe('FairQueue', () => {
  it('serves one connection in arrival order', () => {
    const q = new FairQueue<number, string>(ROOMY);
    for (const item of ['a', 'b', 'c']) q.add(1000, ':1.1', item, 10);
    assert.equal(q.size, 3);
    assert.deepEqual(drain(q), ['a', 'b', 'c']);
    assert.equal(q.size, 0);
    assert.equal(q.next(), undefined);
  });

  it("a caller arriving behind a burst waits for at most one of the burst's items", () => {
    const q = new FairQueue<number, string>(ROOMY);
    for (let i = 0; i < 100; i++) q.add(65534, ':1.9', `flood${i}`, 10);
    assert.equal(q.next(), 'flood0');
    q.add(0, ':1.2', 'root-list', 10);
    assert.deepEqual([q.next(), q.next()], ['flood1', 'root-list']);
    assert.equal(q.size, 98);
  });

  it('takes turns by caller, not by connection: many connections of one uid get one turn per round', () => {
    const q = new FairQueue<number, string>(ROOMY);
    for (let c = 0; c < 4; c++) for (let i = 0; i < 3; i++) q.add(65534, `:1.${10 + c}`, `u${c}.${i}`, 10);
    q.add(0, ':1.2', 'r0', 10);
    q.add(0, ':1.2', 'r1', 10);
    q.add(1000, ':1.3', 't0', 10);
    // Callers alternate; within the flooding uid its four connections alternate.
    assert.deepEqual(drain(q), ['u0.0', 'r0', 't0', 'u1.0', 'r1', 'u2.0', 'u3.0', 'u0.1', 'u1.1', 'u2.1', 'u3.1', 'u0.2', 'u1.2', 'u2.2', 'u3.2']);
  });

  it('refuses what would pass the bound of items or bytes of one caller, and only of that caller', () => {
    const q = new FairQueue<number, string>({ maxItems: 3, maxBytes: 100 });
    assert.equal(q.add(65534, ':1.9', 'a', 10), true);
    assert.equal(q.add(65534, ':1.10', 'b', 10), true); // a second connection counts towards the same uid
    assert.equal(q.add(65534, ':1.9', 'c', 10), true);
    assert.equal(q.add(65534, ':1.11', 'd', 10), false);
    assert.equal(q.add(0, ':1.2', 'root', 10), true);
    assert.equal(q.add(1000, ':1.3', 'big', 101), false);
    assert.equal(q.add(1000, ':1.3', 'fits', 100), true);
    assert.equal(q.add(1000, ':1.3', 'one byte more', 1), false);
    assert.equal(q.size, 5);
    // Serving makes room again.
    assert.equal(q.next(), 'a');
    assert.equal(q.add(65534, ':1.11', 'd', 10), true);
    assert.deepEqual(drain(q).sort(), ['b', 'c', 'd', 'fits', 'root']);
  });

  it("removing a connection takes out its items and frees its caller's share; the other connections keep theirs", () => {
    const q = new FairQueue<number, string>({ maxItems: 4, maxBytes: 1000 });
    for (const item of ['a1', 'a2', 'a3']) q.add(65534, ':1.9', item, 10);
    q.add(65534, ':1.10', 'b1', 10);
    assert.equal(q.add(65534, ':1.10', 'b2', 10), false);
    assert.deepEqual(q.removeConnection(':1.9'), ['a1', 'a2', 'a3']);
    assert.deepEqual(q.removeConnection(':1.9'), []);
    assert.deepEqual(q.removeConnection(':1.404'), []);
    assert.equal(q.size, 1);
    assert.equal(q.add(65534, ':1.10', 'b2', 10), true);
    assert.deepEqual(drain(q), ['b1', 'b2']);
  });

  it('a connection belongs to one caller', () => {
    const q = new FairQueue<number, string>(ROOMY);
    q.add(1000, ':1.3', 'x', 1);
    assert.throws(() => q.add(0, ':1.3', 'y', 1), /belongs to another caller/);
  });

  it('clear takes everything out', () => {
    const q = new FairQueue<number, string>(ROOMY);
    q.add(1, ':1.1', 'a', 1);
    q.add(2, ':1.2', 'b', 1);
    q.add(1, ':1.1', 'c', 1);
    assert.deepEqual(q.clear().sort(), ['a', 'b', 'c']);
    assert.equal(q.size, 0);
    assert.equal(q.next(), undefined);
  });

  it('100,000 calls from one caller: at most the bound is held, the rest refused', () => {
    const q = new FairQueue<number, number>({ maxItems: 256, maxBytes: 256 * 1024 });
    let refused = 0;
    for (let i = 0; i < 100_000; i++) if (!q.add(65534, `:1.${100 + (i % 50)}`, i, 200)) refused++;
    assert.equal(q.size, 256);
    assert.equal(refused, 100_000 - 256);
  });
});
