// Content-addressed copies of applied modules under the state dir: reapply after reboot must not depend on where a
// file was dropped, and a copy named by its sha256 cannot be swapped for another module behind our back.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../errors';
import { faultPoint } from '../fault-point';
import { fsyncPath } from './fsync';

export interface StoredModule {
  sha256: string;
  /** File name inside the module store. */
  file: string;
  /** Absolute path of the stored copy. */
  path: string;
}

const TEMPORARY = /\.ko\.tmp-\d+$/;

export class ModuleStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A copy a crash cut short before its rename (one process holds the state dir: none is being written now).
    for (const name of fs.readdirSync(dir)) if (TEMPORARY.test(name)) fs.rmSync(path.join(dir, name), { force: true });
  }

  pathOf(file: string): string {
    return path.join(this.dir, file);
  }

  /**
   * Keep `bytes` in the store (durably: data and directory entry are synced) unless an intact copy is there; a copy
   * whose bytes no longer match its name (a damaged disk) is replaced.
   */
  put(bytes: Buffer): StoredModule {
    const sha256 = sha256Of(bytes);
    const file = `${sha256}.ko`;
    const target = this.pathOf(file);
    if (!this.intact(file, sha256)) {
      const temporary = `${target}.tmp-${process.pid}`;
      const fd = fs.openSync(temporary, 'w', 0o600);
      try {
        fs.writeSync(fd, bytes);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      faultPoint('store-module-written');
      fs.renameSync(temporary, target);
      fsyncPath(this.dir);
    }
    return { sha256, file, path: target };
  }

  /**
   * The path of the stored copy `file` once its bytes are checked against `sha256`, the hash recorded when it was
   * stored: what the kernel loads is exactly what was applied. `label` names the patch in the error.
   */
  verify(file: string, sha256: string, label: string): string {
    const stored = this.pathOf(file);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(stored);
    } catch (err) {
      throw new SplicedError('UnreadableModule', `cannot read the stored copy of ${label}: ${(err as Error).message}`, {
        path: stored,
      });
    }
    const actual = sha256Of(bytes);
    if (actual !== sha256) {
      throw new SplicedError(
        'CorruptModule',
        `the stored copy of ${label} does not match its sha256 (damaged disk?): ${stored} hashes to ${actual}; ` +
          'apply the module again to store a good copy',
        { path: stored, sha256, actual },
      );
    }
    return stored;
  }

  private intact(file: string, sha256: string): boolean {
    try {
      return sha256Of(fs.readFileSync(this.pathOf(file))) === sha256;
    } catch {
      return false;
    }
  }

  /** Every stored copy (named `<sha256>.ko`; anything else in the directory is not one). */
  list(): StoredModule[] {
    return fs
      .readdirSync(this.dir)
      .filter((file) => /^[0-9a-f]{64}\.ko$/.test(file))
      .map((file) => ({ sha256: file.slice(0, 64), file, path: this.pathOf(file) }));
  }

  /** Drop a stored copy no patch refers to (e.g. the file was refused). */
  remove(file: string): void {
    fs.rmSync(this.pathOf(file), { force: true });
  }
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
