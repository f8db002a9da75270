// splicectl's exit codes (docs/cli.md, docs/errors.md). `status` reports the patch state like `kcarectl --status`;
// every failure exits with its error kind's code.

import type { ErrorKind } from '../errors';

export const EXIT = {
  ok: 0,
  /** The command failed (any error kind without a code of its own). */
  failed: 1,
  /** status: no patch is applied to the running kernel. */
  nothingApplied: 2,
  /** status: patches recorded for this kernel are not live (kill switch, crash guard, failed reapply). */
  updatesPending: 3,
  /** status: the running kernel cannot take livepatches. */
  unsupportedKernel: 4,
  /** Wrong command line, or an argument the daemon refused (sysexits EX_USAGE). */
  usage: 64,
  /** spliced is not running or the bus cannot be reached (EX_UNAVAILABLE). */
  unavailable: 69,
  /** Try again later: another livepatch transition is in progress (EX_TEMPFAIL). */
  tryAgain: 75,
  /** polkit or the bus policy refused (EX_NOPERM). */
  permissionDenied: 77,
} as const;

/** Every kind has a decision here: a new kind in src/errors.ts does not compile until it gets one. */
export const EXIT_BY_KIND: Record<ErrorKind, number> = {
  NotLivepatchModule: EXIT.failed,
  WrongKernel: EXIT.failed,
  UnresolvedSymbol: EXIT.failed,
  Busy: EXIT.tryAgain,
  TransitionStalled: EXIT.failed,
  AlreadyLoaded: EXIT.failed,
  UnreadableModule: EXIT.failed,
  CorruptModule: EXIT.failed,
  LoadFailed: EXIT.failed,
  PatchNotLoaded: EXIT.failed,
  SignatureRequired: EXIT.failed,
  NoSuchPatch: EXIT.failed,
  RevertOrder: EXIT.failed,
  Disabled: EXIT.failed,
  NotApplicable: EXIT.failed,
  InvalidArgument: EXIT.usage,
  PermissionDenied: EXIT.permissionDenied,
  LimitExceeded: EXIT.tryAgain,
  NoSpace: EXIT.tryAgain,
  Unavailable: EXIT.unavailable,
  BuildFailed: EXIT.failed,
  UnsafePatch: EXIT.failed,
  NoChange: EXIT.failed,
  TooManyUnits: EXIT.failed,
  RunPreMismatch: EXIT.failed,
  Internal: EXIT.failed,
};
