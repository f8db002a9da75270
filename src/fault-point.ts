// A test-only seam for the kill -9 fault campaign (docs/testing.md): `SPLICED_FAULT_AT=<point>` in the daemon's
// environment, read once when this module loads, makes the process SIGKILL itself when it reaches that named point
// between two durable writes. Only whoever sets the service's environment (root, through the unit) can arm it: no
// bus call, option, config key or dropped file reaches it. Unset, every point is a comparison with undefined.

export const FAULT_POINTS = [
  /** The module store wrote and synced its temporary copy; not yet renamed into place. */
  'store-module-written',
  /** Apply: the intent is committed; the kernel is not touched yet. */
  'apply-intent',
  /** Apply: the kernel loaded the module and the transition finished; the outcome is not recorded. */
  'apply-loaded',
  /** Apply: the outcome is committed; a dropped file is not removed yet. */
  'apply-recorded',
  /** Revert: the intent is committed; the kernel is not touched yet. */
  'revert-intent',
  /** Revert: the kernel disabled and unloaded the patch; the outcome is not recorded. */
  'revert-done',
  /** Build: the worker wrote the module; it has not joined the kernel queue. */
  'build-done',
  /** Boot reapply: the intent is committed and one module loaded; its outcome is not recorded. */
  'reapply-loaded',
  /** Quarantine: the reason file is written; the dropped file is not moved yet. */
  'quarantine-reason-written',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

const armed = process.env.SPLICED_FAULT_AT;

/** Dies here, as a kill -9 would, when the campaign armed this point. */
export function faultPoint(point: FaultPoint): void {
  if (armed !== point) return;
  process.kill(process.pid, 'SIGKILL');
}
