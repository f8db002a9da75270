// An exclusive lock on one cached kernel tree, shared by every process that prepares or compiles in it (and, through
// tryTakeLock, the daemon's state-directory lock). The lock file names its owner (pid, the boot it runs in, the
// process start time); a lock whose owner is gone (crash, kill -9, reboot, pid reused) is taken over, so a crashed
// build never blocks the next one.
// Node has no flock(2), and an owner record is enough on one host.

import { promises as fs } from 'node:fs';
import { SplicedError } from '../../errors';

export interface Lock {
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  bootId: string;
  /** Field 22 of /proc/<pid>/stat: tells a live owner from a later process that got the same pid. */
  startTime: string;
}

const POLL_MS = 250;

async function bootId(): Promise<string> {
  return (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
}

async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

async function self(): Promise<Owner> {
  return { pid: process.pid, bootId: await bootId(), startTime: (await startTimeOf(process.pid)) ?? '' };
}

/** A lock file this much older than its (unreadable) content could be is a torn write of a dead owner. */
const TORN_WRITE_GRACE_MS = 5_000;

async function ownerAlive(path: string, text: string): Promise<boolean> {
  let owner: Owner;
  try {
    owner = JSON.parse(text) as Owner;
  } catch {
    // Empty or partial: either its owner is writing it right now, or died while doing so.
    const age = Date.now() - ((await fs.stat(path).catch(() => undefined))?.mtimeMs ?? 0);
    return age < TORN_WRITE_GRACE_MS;
  }
  return owner.bootId === (await bootId()) && owner.startTime === (await startTimeOf(owner.pid));
}

/** The pid a lock file names, if it names one. */
export async function lockOwnerPid(path: string): Promise<number | undefined> {
  const text = await fs.readFile(path, 'utf8').catch(() => '');
  try {
    const pid = (JSON.parse(text) as Partial<Owner>).pid;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One attempt: true if the lock at `path` is now ours. false if a live owner holds it, or if a dead owner's file was
 * just removed (try again: another waiter may win that race, which is fine).
 */
export async function tryTakeLock(path: string): Promise<boolean> {
  try {
    await fs.writeFile(path, JSON.stringify(await self()), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const text = await fs.readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined || (await ownerAlive(path, text))) return false;
  // The owner is gone: remove its file and compete again (another waiter may win the race, which is fine).
  await fs.rm(path, { force: true });
  return false;
}

/** Waits until the lock at `path` is ours; `what` names the tree in the timeout message. */
export async function acquireLock(path: string, what: string, timeoutMs: number): Promise<Lock> {
  const deadline = Date.now() + timeoutMs;
  while (!(await tryTakeLock(path))) {
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
