// An exclusive lock on one cached kernel tree, shared by every process that prepares or compiles in it.
// A lock file holds the owner's pid; a lock whose owner is gone (crash, kill -9) is taken over, so a
// crashed build never blocks the next one. Node has no flock(2), and a pid file is enough on one host.

import { promises as fs } from 'node:fs';
import { SplicedError } from '../errors';

export interface Lock {
  release(): Promise<void>;
}

const POLL_MS = 250;

function ownerAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryTake(path: string): Promise<boolean> {
  try {
    await fs.writeFile(path, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = Number.parseInt(await fs.readFile(path, 'utf8').catch(() => ''), 10);
  if (ownerAlive(owner)) return false;
  // The owner died: remove its file and compete again (another waiter may win the race, which is fine).
  await fs.rm(path, { force: true });
  return false;
}

/** Waits until the lock at `path` is ours; `what` names the tree in the timeout message. */
export async function acquireLock(path: string, what: string, timeoutMs: number): Promise<Lock> {
  const deadline = Date.now() + timeoutMs;
  while (!(await tryTake(path))) {
    if (Date.now() > deadline) {
      throw new SplicedError('Busy', `the kernel tree ${what} is in use by another build (lock ${path})`, { lock: path });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return { release: () => fs.rm(path, { force: true }) };
}

/** Runs `body` while holding the lock. */
export async function withLock<T>(path: string, what: string, timeoutMs: number, body: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, what, timeoutMs);
  try {
    return await body();
  } finally {
    await lock.release();
  }
}
