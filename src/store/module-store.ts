// Content-addressed copies of applied modules under the state dir: reapply after reboot must not depend on where a
// file was dropped, and a copy named by its sha256 cannot be swapped for another module behind our back.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StoredModule {
  sha256: string;
  /** File name inside the module store. */
  file: string;
  /** Absolute path of the stored copy. */
  path: string;
}

export class ModuleStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  pathOf(file: string): string {
    return path.join(this.dir, file);
  }

  /** Keep `bytes` in the store (durably: data and directory entry are synced) unless an identical copy is there. */
  put(bytes: Buffer): StoredModule {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const file = `${sha256}.ko`;
    const target = this.pathOf(file);
    if (!fs.existsSync(target)) {
      const temporary = `${target}.tmp-${process.pid}`;
      const fd = fs.openSync(temporary, 'w', 0o600);
      try {
        fs.writeSync(fd, bytes);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temporary, target);
      syncDirectory(this.dir);
    }
    return { sha256, file, path: target };
  }

  /** Drop a stored copy no patch refers to (e.g. the file was refused). */
  remove(file: string): void {
    fs.rmSync(this.pathOf(file), { force: true });
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
