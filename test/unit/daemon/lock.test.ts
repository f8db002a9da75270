import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { lockStateDir } from '../../../src/daemon/lock';
import { isSplicedError } from '../../../src/errors';

function stateDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-lock-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const BOOT_ID = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

function startTimeOf(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function writeOwner(dir: string, owner: { pid: number; bootId: string; startTime: string }): void {
  fs.writeFileSync(path.join(dir, 'spliced.lock'), JSON.stringify(owner));
}

describe('state dir lock', () => {
  it('is refused while a live process holds it, naming that process', async () => {
    const dir = stateDir();
    writeOwner(dir, { pid: process.ppid, bootId: BOOT_ID, startTime: startTimeOf(process.ppid) });
    await assert.rejects(lockStateDir(dir), (err) => isSplicedError(err, 'Busy') && err.details.pid === process.ppid);
  });

  it('takes over a lock left by a process that died (kill -9), and releases it', async () => {
    const dir = stateDir();
    const dead = spawnSync('true').pid!;
    writeOwner(dir, { pid: dead, bootId: BOOT_ID, startTime: '1' });
    const lock = await lockStateDir(dir);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'spliced.lock'), 'utf8')).pid, process.pid);
    await lock.release();
    assert.equal(fs.existsSync(path.join(dir, 'spliced.lock')), false);
  });

  it('takes over a lock of an earlier boot even if its pid is alive again (power loss, pid reused)', async () => {
    const dir = stateDir();
    writeOwner(dir, { pid: process.ppid, bootId: 'an-earlier-boot', startTime: startTimeOf(process.ppid) });
    const lock = await lockStateDir(dir);
    await lock.release();
  });

  it('takes over a lock whose pid now belongs to a later process (start time differs)', async () => {
    const dir = stateDir();
    writeOwner(dir, { pid: process.ppid, bootId: BOOT_ID, startTime: '0' });
    const lock = await lockStateDir(dir);
    await lock.release();
  });

  it('takes over a bare-pid lock of an earlier spliced whose pid is alive again', async () => {
    const dir = stateDir();
    fs.writeFileSync(path.join(dir, 'spliced.lock'), `${process.ppid}\n`);
    const lock = await lockStateDir(dir);
    await lock.release();
  });
});
