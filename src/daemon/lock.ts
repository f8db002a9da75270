// One engine per state directory: the daemon and `spliced tool` must not both drive the kernel and the store.
// A lock file holding the owner's pid; one left by a dead process (kill -9) is taken over.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../errors';

export interface StateLock {
  release(): void;
}

export function lockStateDir(stateDir: string): StateLock {
  const file = path.join(stateDir, 'spliced.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return { release: () => fs.rmSync(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new SplicedError(
          'Busy',
          `another spliced (pid ${owner}) is using ${stateDir}; stop it first, or use splicectl to talk to the daemon`,
          { pid: owner, stateDir },
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new SplicedError('Internal', `cannot take the lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
