import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSplicedError } from '../../../src/errors';
import { acquireLock, withLock } from '../../../src/build/lock';

const dir = () => mkdtempSync(join(tmpdir(), 'lock-'));

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

test('a lock left by a dead process is taken over', async () => {
  const path = join(dir(), 'lock');
  const dead = spawnSync('true').pid as number;
  writeFileSync(path, `${dead}\n`);
  const lock = await acquireLock(path, 't', 2000);
  await lock.release();
});
