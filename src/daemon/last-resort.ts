// The daemon's last resort: an exception or a rejection that no handler took means its state is unknown. It is logged
// (with its stack), shown as State `failed` and in STATUS=, and the process exits with EX_SOFTWARE at once, without a
// clean-stop record, for systemd to restart it (Restart=on-failure) — never a process that goes on half-broken, and
// never a silent loop: each restart is in the journal and counts toward systemd's start limit.

import type pino from 'pino';
import type { Notifier } from './notify';

/** sysexits EX_SOFTWARE: an internal software error. */
export const LAST_RESORT_EXIT = 70;

export interface LastResort {
  /** The logger, once there is one (stderr before). */
  log(): pino.Logger | null;
  notify: Pick<Notifier, 'status'>;
  /** Show State `failed` with the reason on the bus (the engine, once there is one). */
  markFailed(reason: string): void;
}

export function installLastResort(resort: LastResort): void {
  let exiting = false;
  const onFault = (what: string) => (fault: unknown) => {
    if (exiting) return;
    exiting = true;
    const error = fault instanceof Error ? fault : new Error(String(fault));
    const reason = `${what}: ${error.message}`;
    const line = `${reason}; exiting for systemd to restart spliced`;
    // Each step on its own: a failing one must not keep the process from exiting.
    attempt(() => {
      const log = resort.log();
      if (log) log.fatal({ stack: error.stack }, line);
      else process.stderr.write(`<2>spliced: ${line}\n${error.stack ?? ''}\n`);
    });
    attempt(() => resort.markFailed(reason));
    attempt(() => resort.notify.status(`failed: ${line}`));
    process.exit(LAST_RESORT_EXIT);
  };
  process.on('uncaughtException', onFault('an uncaught exception'));
  process.on('unhandledRejection', onFault('an unhandled rejection'));
}

function attempt(step: () => void): void {
  try {
    step();
  } catch {
    // Nothing better to do on the way out.
  }
}
