// What every part of the engine shares: the ports, the store, the running kernel and this boot, and a cached view
// of /sys/kernel/livepatch that is re-read after every kernel action (never trusted across one).

import { isSplicedError } from '../errors';
import type { KernelIdentity, KernelPort, LivePatch, SignaturePolicy, TransitionOptions } from '../kernel/types';
import type { KernelBuild, ModuleStore, Store } from '../store';

/** The logging calls the engine makes (pino's signature). */
export interface EngineLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** The range a livepatch transition timeout may take (config, D-Bus option): long enough for busy tasks to reach a
 * safe point, short enough that one request cannot hold the kernel queue for long. */
export const TRANSITION_TIMEOUT_MS = { min: 1_000, max: 600_000 } as const;

export interface EngineSettings {
  /** How long a livepatch transition may take before the kernel port reverses it. */
  transitionTimeoutMs: number;
  /** A patch applied this long before an unclean end of the previous boot is not reapplied. */
  crashGuardWindowMs: number;
  /** Why spliced is disabled (kill switch), or null. */
  disabledReason: string | null;
  /** The running kernel has the livepatch interface (/sys/kernel/livepatch exists). */
  livepatchSupported: boolean;
  /** The key modules built from source patches are signed with (src/build/signing-key.ts), or null: built unsigned. */
  signingKey: string | null;
}

export interface EngineContext {
  kernel: KernelPort;
  store: Store;
  modules: ModuleStore;
  log: EngineLog;
  identity: KernelIdentity;
  bootId: string;
  settings: EngineSettings;
  live: LiveView;
}

export function buildOf(identity: KernelIdentity): KernelBuild {
  return { release: identity.release, buildId: identity.buildId };
}

export function transitionOptions(settings: EngineSettings, timeoutMs?: number): TransitionOptions {
  return { transitionTimeoutMs: timeoutMs ?? settings.transitionTimeoutMs };
}

/**
 * Disable and unload whatever is left of the patch: on 6.1 a finished disable removes the sysfs directory but leaves
 * the module loaded, and a later apply of the same module would fail. Nothing left is fine.
 */
export async function removeFromKernel(ctx: EngineContext, name: string): Promise<void> {
  try {
    await ctx.kernel.revert(name, transitionOptions(ctx.settings));
  } catch (err) {
    if (!isSplicedError(err, 'PatchNotLoaded')) throw err;
  }
  await ctx.live.refresh();
}

export class LiveView {
  private patches = new Map<string, LivePatch>();
  private policy: SignaturePolicy = { required: false, lockdown: null, sigEnforce: false };

  constructor(private readonly kernel: KernelPort) {}

  async refresh(): Promise<void> {
    const [patches, policy] = await Promise.all([this.kernel.list(), this.kernel.signaturePolicy()]);
    this.patches = new Map(patches.map((p) => [p.name, p]));
    this.policy = policy;
  }

  /** As of the last refresh (for the status); a decision reads the kernel's policy afresh. */
  signaturePolicy(): SignaturePolicy {
    return this.policy;
  }

  get(name: string): LivePatch | undefined {
    return this.patches.get(name);
  }

  /** Enabled and not in transition: the patch runs. */
  isApplied(name: string): boolean {
    const patch = this.patches.get(name);
    return patch !== undefined && patch.enabled && !patch.transition;
  }

  all(): LivePatch[] {
    return [...this.patches.values()];
  }
}
