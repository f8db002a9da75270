// systemd's notification socket: READY=1 once the stack is reapplied and the bus name is ours, STATUS= lines,
// WATCHDOG=1 pings at half the unit's WatchdogSec. Outside systemd (no $NOTIFY_SOCKET) every call is a no-op.

import type { EngineStatus } from '../engine';

export interface Notifier {
  ready(): void;
  status(text: string): void;
  stopping(): void;
  /** Start pinging the watchdog if the unit has one; returns the ping interval in ms (0: none). */
  startWatchdog(): number;
  stopWatchdog(): void;
}

export function systemdNotifier(): Notifier {
  // Loaded only in daemon mode: `spliced tool` and `spliced build` never talk to systemd.
  const sd = require('sd-notify') as typeof import('sd-notify');
  let timer: NodeJS.Timeout | null = null;
  return {
    ready: () => sd.ready(),
    status: (text) => sd.sendState(`STATUS=${text}`),
    stopping: () => sd.stopping(process.pid),
    startWatchdog: () => {
      const intervalMs = sd.watchdogInterval();
      if (intervalMs <= 0) return 0;
      const every = Math.max(1, Math.floor(intervalMs / 2));
      timer = setInterval(() => sd.watchdog(), every);
      return every;
    },
    stopWatchdog: () => {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

/** One STATUS= line for `systemctl status spliced`. */
export function statusLine(status: EngineStatus): string {
  const applied = `${status.applied.length} patch${status.applied.length === 1 ? '' : 'es'} applied`;
  const failed = status.state === 'failed';
  const parts = [failed ? `failed: ${status.disabledReason}` : status.state, applied, `effective ${status.effectiveVersion}`];
  if (status.disabledReason && !failed) parts.push(`disabled: ${status.disabledReason}`);
  if (status.heldByCrashGuard.length > 0) parts.push(`${status.heldByCrashGuard.length} held by the crash guard`);
  if (status.rebootRequired) parts.push('reboot required');
  if (status.moduleSignatures.required && status.moduleSignatures.signingKey === null) {
    parts.push('module signatures required and no signing key: source patches are refused');
  }
  return parts.join('; ');
}
