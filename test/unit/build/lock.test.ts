import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSplicedError } from '../../../src/errors';
import { acquireLock, withLock } from '../../../src/build/tree/lock';
import { scratchDir } from './kernel-tree';

const dir = () => scratchDir('lock');

test('a second holder waits until the first releases', async () => {
  const path = join(dir(), 'lock');
  const order: string[] = [];
  const first = await acquireLock(path, 't', 1000);
  const second = withLock(path, 't', 5000, async () => {
    order.push('second');
  });
  await new Promise((r) => setTimeout(r, 400));
  order.push('first releases');
  await first.release();
  await second;
  assert.deepEqual(order, ['first releases', 'second']);
  assert.equal(existsSync(path), false);
});

test('a lock held by a live process times out as Busy', async () => {
  const path = join(dir(), 'lock');
  await acquireLock(path, 'tree-x', 1000);
  await assert.rejects(acquireLock(path, 'tree-x', 300), (err) => isSplicedError(err, 'Busy') && /tree-x/.test(err.message));
});

test('a lock left by a dead process, an earlier boot or a reused pid is taken over; a half-written one only when old', async () => {
  const path = join(dir(), 'lock');
  const live = JSON.parse(await (async () => {
    const l = await acquireLock(path, 't', 1000);
    const text = readFileSync(path, 'utf8');
    await l.release();
    return text;
  })());
  assert.equal(live.pid, process.pid);
  const dead = spawnSync('true').pid as number;
  for (const stale of [
    JSON.stringify({ ...live, pid: dead }),
    JSON.stringify({ ...live, bootId: 'another-boot' }),
    JSON.stringify({ ...live, startTime: '1' }),
  ]) {
    writeFileSync(path, stale);
    const lock = await acquireLock(path, 't', 2000);
    await lock.release();
  }
  // A half-written owner record is someone taking the lock right now, unless it is old.
  writeFileSync(path, '{"pid": 1');
  await assert.rejects(acquireLock(path, 't', 300), (err) => isSplicedError(err, 'Busy'));
  utimesSync(path, new Date(), new Date(Date.now() - 60_000));
  await (await acquireLock(path, 't', 2000)).release();
});
