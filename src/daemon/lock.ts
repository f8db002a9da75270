// One engine per state directory: the daemon and `spliced tool` must not both drive the kernel and the store.
// The lock file names its owner by pid, boot id and process start time (the build lock's owner record): one left by
// a dead process (kill -9), by an earlier boot (power loss), or whose pid a later process reuses is taken over.

import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { lockOwnerPid, tryTakeLock } from '../build/tree/lock';
import { SplicedError } from '../errors';

export interface StateLock {
  release(): Promise<void>;
}

export async function lockStateDir(stateDir: string): Promise<StateLock> {
  const file = path.join(stateDir, 'spliced.lock');
  // The second attempt follows the removal of a dead owner's file.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryTakeLock(file)) return { release: () => fs.rm(file, { force: true }) };
  }
  const owner = await lockOwnerPid(file);
  throw new SplicedError(
    'Busy',
    `another spliced (pid ${owner ?? 'unknown'}) is using ${stateDir}; stop it first, or use splicectl to talk to the daemon`,
    { pid: owner, stateDir },
  );
}
