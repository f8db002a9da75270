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

describe('state dir lock', () => {
  it('is refused while a live process holds it, naming that process', () => {
    const dir = stateDir();
    fs.writeFileSync(path.join(dir, 'spliced.lock'), `${process.ppid}\n`);
    assert.throws(
      () => lockStateDir(dir),
      (err) => isSplicedError(err, 'Busy') && err.details.pid === process.ppid,
    );
  });

  it('takes over a lock left by a process that died (kill -9), and releases it', () => {
    const dir = stateDir();
    const dead = spawnSync('true').pid;
    fs.writeFileSync(path.join(dir, 'spliced.lock'), `${dead}\n`);
    const lock = lockStateDir(dir);
    assert.equal(fs.readFileSync(path.join(dir, 'spliced.lock'), 'utf8'), `${process.pid}\n`);
    lock.release();
    assert.equal(fs.existsSync(path.join(dir, 'spliced.lock')), false);
  });
});
