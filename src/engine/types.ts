// The engine's public API: what the D-Bus adapter (src/bus), `spliced tool` and the daemon code against.
// Kept small and stable. The engine knows nothing of D-Bus; every failure is a SplicedError (src/errors.ts).

import type { KernelIdentity, SignaturePolicy } from '../kernel/types';
import type { SplicedError } from '../errors';

/** Where a patch came from; kept in the store and the history. Only 'dbus' and 'tool' count as an explicit admin request. */
export type PatchOrigin = 'drop-dir' | 'feed' | 'dbus' | 'tool';

/**
 * A patch as spliced knows it, for this boot.
 * - applied: in the recorded stack of the running kernel and live in /sys/kernel/livepatch
 * - not-loaded: in the recorded stack of the running kernel but not live (kill switch, crash guard, failed reapply; see stateReason)
 * - reverted: removed on request
 * - failed: the last apply failed (see lastError)
 * - superseded: a newer patch replaced it (an atomic-replace patch, or the feed's newer cumulative splice)
 * - not-applicable: recorded for another kernel build; kept (and reapplied when that kernel boots again)
 */
export type PatchState = 'applied' | 'not-loaded' | 'reverted' | 'failed' | 'superseded' | 'not-applicable';

export interface PatchFunctionRecord {
  /** "vmlinux" or a module name. */
  object: string;
  name: string;
  sympos: number;
}

export interface PatchRecord {
  /** Stable id: the first 12 hex digits of the module's sha256. */
  id: string;
  /** The livepatch's name in sysfs (module name, `-` turned into `_`). */
  name: string;
  sha256: string;
  origin: PatchOrigin;
  /** Kernel build the module is for. */
  kernelRelease: string;
  kernelBuildId: string;
  description: string;
  cves: string[];
  /** Kernel package version whose fixes this patch brings (modinfo `spliced.version`), or null if it declares none. */
  version: string | null;
  /** Functions it replaces, as seen in sysfs when it was applied (empty until then). */
  functions: PatchFunctionRecord[];
  state: PatchState;
  /** Why the patch is in its state, when that is not obvious (e.g. "skipped by the crash guard: ..."). */
  stateReason: string | null;
  /** 1 = bottom of the recorded stack of its kernel; null when not in a stack. */
  stackPosition: number | null;
  /** ISO 8601 times. */
  addedAt: string;
  appliedAt: string | null;
  lastError: { kind: string; message: string } | null;
}

/** starting: boot reconciliation/reapply still running; busy: a job is running; disabled: kill switch set. */
/** `failed`: start-up failed (or the daemon is exiting after a fault); `disabledReason` says why. */
export type EngineState = 'starting' | 'idle' | 'busy' | 'disabled' | 'failed';

export interface EngineStatus {
  kernel: KernelIdentity;
  /** The running kernel can take livepatches (/sys/kernel/livepatch exists); false: `splicectl status` exits 4. */
  livepatchSupported: boolean;
  /** Whether the kernel loads only signed modules (lockdown, sig_enforce), and the key built splices are signed with. */
  moduleSignatures: ModuleSignatures;
  /** Kernel package version of the running kernel, e.g. "6.1.158-1" (from /proc/version; the release if none found). */
  baseVersion: string;
  /** Newest version whose fixes are all applied (like `uptrack-uname -r`); baseVersion when none. */
  effectiveVersion: string;
  state: EngineState;
  /**
   * Why spliced is disabled ("spliced.disable=1 on the kernel command line", "/etc/spliced/disable exists") or failed
   * ("start-up failed: …"), else null.
   */
  disabledReason: string | null;
  /** True when the live kernel cannot be brought to the recorded state without a reboot (see rebootReasons). */
  rebootRequired: boolean;
  rebootReasons: string[];
  /** Patches of this kernel in stack order (bottom first) that are live. */
  applied: string[];
  /** Ids in this kernel's stack the crash guard holds (not loaded until applied again or reverted). */
  heldByCrashGuard: string[];
}

export interface ModuleSignatures extends SignaturePolicy {
  /** The private key built splices are signed with; null: none, so under `required` source patches are refused. */
  signingKey: string | null;
}

export type HistoryEventKind =
  | 'applied'
  | 'reverted'
  | 'failed'
  | 'superseded'
  | 'reapplied-at-boot'
  | 'skipped-by-crash-guard'
  | 'reconciled'
  /** The database was found damaged at start and rebuilt; earlier history is in the file moved aside. */
  | 'history-lost';

export interface HistoryEvent {
  seq: number;
  at: string;
  kind: HistoryEventKind;
  patchId: string;
  patchName: string;
  kernelRelease: string;
  bootId: string;
  /** Failure reason, crash-guard reason, or what reconciliation found. */
  reason: string | null;
  /** Who asked (e.g. a D-Bus sender or uid) when known. */
  requestedBy: string | null;
}

export interface HistoryQuery {
  patchId?: string;
  /** Newest events first; default 100. */
  limit?: number;
}

/** Minimal typed event emitter; the engine and jobs are node EventEmitters with these event maps. */
export interface TypedEmitter<Events extends Record<string, unknown[]>> {
  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this;
}

export type JobKind = 'apply' | 'revert';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobResult {
  /** Patches applied (apply) or reverted (revert, topmost first), as recorded after the job. */
  patches: PatchRecord[];
}

// Type aliases, not interfaces: node's typed EventEmitter needs event maps without an index signature.
export type JobEvents = {
  /** progress, status or state changed */
  changed: [Job];
  /** emitted exactly once, after result or error is set */
  finished: [Job];
};

export interface Job extends TypedEmitter<JobEvents> {
  /** Unique within the daemon's lifetime, counting from 1. */
  readonly id: number;
  readonly kind: JobKind;
  /** The name of the file (apply: see ApplyInput) or the patch id (revert) the job was created for. */
  readonly target: string;
  /** Who asked for it (ApplyOptions.requestedBy), null for the daemon's own sources. */
  readonly requestedBy: string | null;
  readonly state: JobState;
  /** 0–100. */
  readonly progress: number;
  /** One human-readable line, e.g. "waiting for the livepatch transition". */
  readonly status: string;
  readonly result: JobResult | null;
  readonly error: SplicedError | null;
  /** Resolves (never rejects) with this job once it has finished. */
  readonly done: Promise<Job>;
}

/** One step of a build, as the builder reports it. */
export interface BuildStep {
  /** 0–100 within the build. */
  progress: number;
  message: string;
}

/**
 * Turns a kernel source patch into a livepatch module for the running kernel (src/build, run by the daemon in a
 * child process). The engine only sees this port, so it runs and is tested without a compiler or a kernel tree.
 */
export interface SpliceBuilder {
  /**
   * Writes the module built from `source` to `output`. Rejects with a SplicedError naming the reason (UnsafePatch,
   * NoChange, RunPreMismatch, BuildFailed, ...); rejects promptly once `signal` aborts.
   */
  build(source: BuildSource, output: string, onStep: (step: BuildStep) => void, signal: AbortSignal): Promise<void>;
}

/** What a splice is built from: a source patch for the running kernel, written against its source or another. */
export interface BuildSource {
  patchText: string;
  /**
   * The linux-source version the patch is written against, when not the running kernel's own (e.g. a fix on top of
   * the distro feed's newer source): compiled from that version, and run-pre checks the result still matches the
   * running code. Absent: the running kernel's own source.
   */
  sourceVersion?: string;
}

/**
 * A file as a door (src/sources/read-once.ts) read it: its content, read once, and a name for people. The engine
 * hashes, recognises, builds and applies this content only; it never opens the name.
 */
export interface ApplyInput {
  content: Buffer;
  /** The path it was read from, or what a passed descriptor pointed at: shown in jobs, logs and the history. */
  name: string;
}

export interface ApplyOptions {
  origin: PatchOrigin;
  requestedBy?: string;
  /** Passed to the kernel port; the configured default otherwise. */
  transitionTimeoutMs?: number;
  /** A source patch only: the linux-source version it is written against (BuildSource.sourceVersion). */
  sourceVersion?: string;
}

export interface RevertOptions {
  /** Revert this patch and every patch above it, topmost first (otherwise a RevertOrder error names what must go first). */
  downTo?: boolean;
  requestedBy?: string;
  transitionTimeoutMs?: number;
  /**
   * The id of a cumulative patch live above this one that carries all of its fixes (the distro feed's newer splice):
   * this one is retired out of stack order — Linux ≥ 5.1 lets any patch of the stack be disabled, not only the
   * topmost — and recorded as superseded. Not offered over D-Bus.
   */
  supersededBy?: string;
}

export type EngineEvents = {
  'patch-applied': [PatchRecord];
  'patch-reverted': [PatchRecord];
  /** patch is null when the file never became a recorded patch (unreadable, wrong kernel, ...). */
  'patch-failed': [{ patch: PatchRecord | null; target: string; error: SplicedError }];
  'status-changed': [EngineStatus];
  'job-created': [Job];
};

/**
 * The engine. Mutating calls return a Job at once (queued; one runs at a time) and never throw: their failure is the
 * job's error. Reads are synchronous and served from the store, which the engine keeps in step with the kernel.
 */
export interface Engine extends TypedEmitter<EngineEvents> {
  /**
   * Applies a livepatch module, or a kernel source patch (unified diff) which is first built into one. The content is
   * copied into the content-addressed store when the job runs; the job's target is the input's name.
   */
  apply(input: ApplyInput, options: ApplyOptions): Job;
  /** id: a patch id or its livepatch name. */
  revert(id: string, options?: RevertOptions): Job;
  /** Every known patch: this kernel's stack in order first, then the rest newest first. */
  list(): PatchRecord[];
  /** Throws SplicedError NoSuchPatch. Accepts an id or a livepatch name. */
  getPatch(id: string): PatchRecord;
  status(): EngineStatus;
  history(query?: HistoryQuery): HistoryEvent[];
  /** Jobs queued or running, oldest first. */
  jobs(): Job[];
}
