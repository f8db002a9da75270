// The parts of sd-notify 2.8.0 (no bundled types) spliced uses: thin bindings to libsystemd's sd_notify.
declare module 'sd-notify' {
  /** READY=1 for this pid. */
  export function ready(): void;
  /** STOPPING=1 for the given pid. */
  export function stopping(pid: number): void;
  /** WATCHDOG=1. */
  export function watchdog(): void;
  /** Any sd_notify state string, e.g. "STATUS=...". */
  export function sendState(state: string): void;
  /** The unit's watchdog interval in milliseconds, 0 when the watchdog is off (sd_watchdog_enabled). */
  export function watchdogInterval(): number;
}
