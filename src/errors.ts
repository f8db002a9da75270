// The one table of spliced's error kinds. Every failure that reaches a user — D-Bus error name, splicectl exit
// status and message, `spliced build` stderr, the quarantine reason of a dropped file — comes from here.
// Documented in docs/errors.md; keep both in step.

export const ERROR_KINDS = {
  // Module and kernel (src/kernel)
  NotLivepatchModule: 'the file is a kernel module but not a livepatch module',
  WrongKernel: 'the module was built for another kernel',
  UnresolvedSymbol: 'the module needs a symbol the running kernel does not provide',
  Busy: 'another livepatch transition is in progress',
  TransitionStalled: 'the livepatch transition did not finish in time and was reversed',
  AlreadyLoaded: 'a livepatch with this name is already loaded',
  UnreadableModule: 'the module file cannot be read',
  CorruptModule: 'the module file is not a valid kernel module',
  LoadFailed: 'the kernel refused to load the module',
  PatchNotLoaded: 'no such livepatch is loaded in the kernel',
  SignatureRequired: 'the kernel loads only signed modules, and this one is unsigned, not trusted, or cannot be signed',
  // Engine and store (src/engine, src/store)
  NoSuchPatch: 'no patch with this id is known',
  RevertOrder: 'the patch cannot be reverted before the patches above it',
  Disabled: 'spliced is disabled by the kill switch',
  NotApplicable: 'the patch is for another kernel build',
  InvalidArgument: 'an argument is invalid',
  PermissionDenied: 'the caller is not authorised',
  LimitExceeded: 'the caller has as many jobs or calls queued as it may have',
  NoSpace: 'the file system of the state directory is full',
  // Clients (src/cli)
  Unavailable: 'spliced cannot be reached over D-Bus',
  // Builder (src/build, src/elf)
  BuildFailed: 'the splice could not be built',
  UnsafePatch: 'the patch changes something a livepatch cannot safely replace',
  NoChange: 'the patch changes no code',
  TooManyUnits: 'the patch reaches more translation units than a build may compile',
  RunPreMismatch: 'the source does not match the running kernel',
  Internal: 'internal error',
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

/** Whether a name read back from elsewhere (D-Bus, a child process) is one of ours. */
export function isErrorKind(kind: string): kind is ErrorKind {
  return Object.hasOwn(ERROR_KINDS, kind);
}

export const DBUS_ERROR_PREFIX = 'org.spliced.Spliced1.Error.';

/** A failure with a named kind, a message an admin understands, and structured details for --json and D-Bus. */
export class SplicedError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = kind;
  }

  get dbusName(): string {
    return DBUS_ERROR_PREFIX + this.kind;
  }
}

/** Whatever was thrown, as a SplicedError: unknown exceptions become Internal, never a raw stack trace. */
export function asSplicedError(err: unknown): SplicedError {
  if (err instanceof SplicedError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // A full disk is the admin's to fix, not a bug: ENOSPC from a write, SQLITE_FULL from the database.
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return new SplicedError('NoSpace', `no space left to write spliced's state (${message}); free some and retry`, { code });
  return new SplicedError('Internal', message);
}

export function isSplicedError(err: unknown, kind?: ErrorKind): err is SplicedError {
  return err instanceof SplicedError && (kind === undefined || err.kind === kind);
}
