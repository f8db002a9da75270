// The real spliced daemon (dist/src/daemon/main.js: real engine and store, the host's kernel) on a private bus, with
// a throw-away state directory. On the host nothing can be applied; what it can do for real is refuse and fail.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stopChild } from './child';
import { REPO } from './repo';

export interface SplicedDaemon {
  child: ChildProcess;
  /** Its log so far (pino JSON lines). */
  log(): string;
  /** Start it again on the same state directory (after stop(), or after it exited on its own). */
  restart(): Promise<void>;
  /** SIGTERM, as systemd stops it. */
  stop(): Promise<void>;
  /** Stop it and remove its state directory. */
  remove(): Promise<void>;
}

/** Start spliced on `busAddress` and resolve once it logged "ready". */
export async function startSplicedDaemon(busAddress: string): Promise<SplicedDaemon> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'spliced-state-'));
  let log = '';
  let child!: ChildProcess;
  const launch = async () => {
    child = spawn(process.execPath, [path.join(REPO, 'dist/src/daemon/main.js')], {
      env: {
        ...process.env,
        SPLICED_CONFIG: path.join(stateDir, 'no-such.conf'),
        SPLICED_STATE_DIR: stateDir,
        SPLICED_REBOOT_REQUIRED_FILE: path.join(stateDir, '..', 'reboot-required'),
        SPLICED_DISABLE_FILE: path.join(stateDir, 'disable'),
        SPLICED_BUS: busAddress,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const start = log.length;
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const deadline = Date.now() + 20_000;
    while (!log.slice(start).includes('"msg":"ready"')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`spliced did not get ready:\n${log.slice(start)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await launch();
  return {
    get child() {
      return child;
    },
    log: () => log,
    restart: launch,
    stop: () => stopChild(child),
    remove: async () => {
      await stopChild(child);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
