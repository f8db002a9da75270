// What splicectl prints with --json: the D-Bus records in camelCase, times as ISO 8601 (null for "never"),
// empty strings of the wire as null. Shapes documented in docs/cli.md.

type Wire = unknown;

/** Microseconds since the epoch (0 = never) → ISO 8601. */
function isoTime(usec: Wire): string | null {
  const n = Number(usec);
  return n === 0 ? null : new Date(n / 1000).toISOString();
}

const orNull = (s: Wire) => (s === '' ? null : String(s));

export interface PatchSummary {
  id: string;
  name: string;
  state: string;
  stateReason: string | null;
  kernelRelease: string;
  stackPosition: number | null;
  version: string | null;
  description: string;
  appliedAt: string | null;
  origin: string;
  cves: string[];
}

/** One List() struct. */
export function patchSummary(row: Wire[]): PatchSummary {
  const [id, name, state, stateReason, kernelRelease, stackPosition, version, description, appliedAt, origin, cves] = row;
  return {
    id: String(id),
    name: String(name),
    state: String(state),
    stateReason: orNull(stateReason),
    kernelRelease: String(kernelRelease),
    stackPosition: Number(stackPosition) === 0 ? null : Number(stackPosition),
    version: orNull(version),
    description: String(description),
    appliedAt: isoTime(appliedAt),
    origin: String(origin),
    cves: cves as string[],
  };
}

/** GetPatch()'s dictionary: snake_case keys to camelCase, *_at times to ISO, functions as objects. */
export function patchDetails(dict: Record<string, Wire>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(dict)) {
    const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (key.endsWith('_at')) out[camel] = isoTime(value);
    else if (key === 'functions') {
      out[camel] = (value as Wire[][]).map(([object, name, sympos]) => ({ object, name, sympos }));
    } else out[camel] = typeof value === 'bigint' ? Number(value) : value;
  }
  return out;
}

export interface HistoryEntry {
  seq: number;
  at: string | null;
  kind: string;
  patchId: string | null;
  patchName: string | null;
  kernelRelease: string;
  bootId: string;
  reason: string | null;
  requestedBy: string | null;
}

/** One GetHistory() struct. */
export function historyEntry(row: Wire[]): HistoryEntry {
  const [seq, at, kind, patchId, patchName, kernelRelease, bootId, reason, requestedBy] = row;
  return {
    seq: Number(seq),
    at: isoTime(at),
    kind: String(kind),
    patchId: orNull(patchId),
    patchName: orNull(patchName),
    kernelRelease: String(kernelRelease),
    bootId: String(bootId),
    reason: orNull(reason),
    requestedBy: orNull(requestedBy),
  };
}

export interface Status {
  kernelRelease: string;
  kernelBuildId: string;
  kernelVersion: string;
  livepatchSupported: boolean;
  /** The kernel loads only signed modules (lockdown, sig_enforce). */
  moduleSignatures: 'required' | 'not-required';
  lockdown: string | null;
  signingKey: string | null;
  baseVersion: string;
  effectiveVersion: string;
  state: string;
  disabledReason: string | null;
  rebootRequired: boolean;
  rebootReasons: string[];
  appliedPatches: string[];
  heldByCrashGuard: string[];
  /** Patches recorded for this kernel that are not live (state "not-loaded"). */
  pendingPatches: string[];
  /** The distro feed (docs/feed.md): its settings, what apt offers, what is pending. */
  feed: FeedSummary;
  verdict: 'up-to-date' | 'nothing-applied' | 'updates-pending' | 'unsupported-kernel';
}

export interface FeedSummary {
  policy: string;
  pinVersion: string | null;
  delaySeconds: number;
  applyWindow: string | null;
  state: string;
  offered: string | null;
  offeredImage: string | null;
  pending: string | null;
  lastError: string | null;
  /** ISO 8601; null: not yet. */
  lastRefresh: string | null;
}

function feedSummary(props: Record<string, Wire>): FeedSummary {
  return {
    policy: String(props.FeedPolicy),
    pinVersion: orNull(props.FeedPinVersion),
    delaySeconds: Number(props.FeedDelay),
    applyWindow: orNull(props.FeedApplyWindow),
    state: String(props.FeedState),
    offered: orNull(props.FeedOffered),
    offeredImage: orNull(props.FeedOfferedImage),
    pending: orNull(props.FeedPending),
    lastError: orNull(props.FeedLastError),
    lastRefresh: isoTime(props.FeedLastRefresh),
  };
}

/** The Manager's properties plus the List() rows: the status and its verdict (the exit code of `status`). */
export function status(props: Record<string, Wire>, patches: PatchSummary[]): Status {
  const applied = props.AppliedPatches as string[];
  const pending = patches.filter((p) => p.state === 'not-loaded').map((p) => p.id);
  const supported = props.LivepatchSupported === true;
  return {
    kernelRelease: String(props.KernelRelease),
    kernelBuildId: String(props.KernelBuildId),
    kernelVersion: String(props.KernelVersion),
    livepatchSupported: supported,
    moduleSignatures: props.ModuleSignatures === 'required' ? 'required' : 'not-required',
    lockdown: orNull(props.Lockdown),
    signingKey: orNull(props.SigningKey),
    baseVersion: String(props.BaseVersion),
    effectiveVersion: String(props.EffectiveVersion),
    state: String(props.State),
    disabledReason: orNull(props.DisabledReason),
    rebootRequired: props.RebootRequired === true,
    rebootReasons: props.RebootReasons as string[],
    appliedPatches: applied,
    heldByCrashGuard: props.HeldByCrashGuard as string[],
    pendingPatches: pending,
    feed: feedSummary(props),
    verdict: !supported
      ? 'unsupported-kernel'
      : pending.length > 0
        ? 'updates-pending'
        : applied.length === 0
          ? 'nothing-applied'
          : 'up-to-date',
  };
}
