// The livepatch backend: KernelPort over the real sysfs/procfs, kmod and /dev/kmsg (all injectable for tests).
import { readFile } from 'node:fs/promises';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SplicedError, isSplicedError } from '../errors';
import { describeBlockers, findBlockingTasks } from './blocking-tasks';
import { readIdentity } from './identity';
import { DevKmsg, type KernelLog } from './kmsg';
import { classifyLoadFailure } from './load-failure';
import { isModuleLoaded, listPatches, readEnabled, readPatch, readTransition, writeEnabled } from './livepatch-sysfs';
import { readModuleInfo } from './modinfo';
import { KmodLoader, ModuleLoaderError, type ModuleLoader } from './module-loader';
import { REAL_ROOTS, type KernelRoots } from './roots';
import { readSignaturePolicy } from './signature-policy';
import type { KernelIdentity, KernelPort, LivePatch, LoadResult, ModuleInfo, SignaturePolicy, TransitionOptions } from './types';

export interface KernelBackendOptions {
  roots?: KernelRoots;
  loader?: ModuleLoader;
  log?: KernelLog;
  /** The running release (`uname -r`). */
  release?: () => string;
  /** How often sysfs is polled while waiting for a transition. */
  pollIntervalMs?: number;
  /** First wait after an EBUSY answer; doubles with each retry. */
  busyBackoffMs?: number;
  /** Used when a call passes no TransitionOptions. */
  defaults?: Required<TransitionOptions>;
}

export interface LoadOptions extends TransitionOptions {
  /** Module parameters ("name=value"), as insmod takes them. */
  moduleParams?: readonly string[];
}

export const DEFAULT_TRANSITION_OPTIONS: Required<TransitionOptions> = { transitionTimeoutMs: 60_000, busyRetries: 5 };

const MAX_BUSY_BACKOFF_MS = 4_000;
/** After a patch is freed the kernel drops its module reference a moment later; rmmod meanwhile says "in use". */
const UNLOAD_SETTLE_MS = 10_000;

type WaitOutcome = 'done' | 'gone' | 'timeout';

function errnoOf(err: unknown): string | undefined {
  return err instanceof ModuleLoaderError ? err.errno : (err as NodeJS.ErrnoException).code;
}

export class KernelBackend implements KernelPort {
  private readonly roots: KernelRoots;
  private readonly loader: ModuleLoader;
  private readonly log: KernelLog;
  private readonly release: () => string;
  private readonly pollIntervalMs: number;
  private readonly busyBackoffMs: number;
  private readonly defaults: Required<TransitionOptions>;

  constructor(options: KernelBackendOptions = {}) {
    this.roots = options.roots ?? REAL_ROOTS;
    this.loader = options.loader ?? new KmodLoader();
    this.log = options.log ?? new DevKmsg();
    this.release = options.release ?? osRelease;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.busyBackoffMs = options.busyBackoffMs ?? 250;
    this.defaults = options.defaults ?? DEFAULT_TRANSITION_OPTIONS;
  }

  identity(): Promise<KernelIdentity> {
    return readIdentity(this.roots, this.release);
  }

  readModuleInfo(path: string): Promise<ModuleInfo> {
    return readModuleInfo(path);
  }

  signaturePolicy(): Promise<SignaturePolicy> {
    return readSignaturePolicy(this.roots);
  }

  list(): Promise<LivePatch[]> {
    return listPatches(this.roots);
  }

  async load(path: string, options: LoadOptions = {}): Promise<LoadResult> {
    const started = performance.now();
    const { transitionTimeoutMs, busyRetries } = this.withDefaults(options);
    const info = await this.checkLoadable(path);
    const enabledBefore = (await listPatches(this.roots)).filter((p) => p.enabled).map((p) => p.name);

    await this.retryWhileBusy(busyRetries, () => this.insert(info, options.moduleParams ?? []));
    const outcome = await this.waitForTransition(info.name, transitionTimeoutMs);
    if (outcome === 'gone') {
      throw new SplicedError('LoadFailed', `${info.name} was loaded but its livepatch disappeared before it finished applying.`, {
        patch: info.name,
      });
    }
    if (outcome === 'timeout') await this.abandonStalledEnable(info.name, transitionTimeoutMs);
    const durationMs = performance.now() - started;
    const superseded = await this.retireSuperseded(enabledBefore.filter((name) => name !== info.name));
    return { patch: info.name, superseded, durationMs };
  }

  async revert(patch: string, options: TransitionOptions = {}): Promise<void> {
    const { transitionTimeoutMs, busyRetries } = this.withDefaults(options);
    const state = await readPatch(this.roots, patch);
    if (!state) {
      // Disabled or superseded earlier: only the module can be left, and only a livepatch module is ours to remove.
      if (await this.isLivepatchModuleLoaded(patch)) return this.unload(patch);
      throw new SplicedError('PatchNotLoaded', `no livepatch named ${patch} is loaded.`, { patch });
    }
    // Writing 0 disables a finished patch and reverses one that is still being enabled.
    if (state.enabled) await this.retryWhileBusy(busyRetries, () => this.writeEnabledUnlessGone(patch, false));
    const outcome = await this.waitForDisable(patch, transitionTimeoutMs);
    if (outcome === 'timeout') await this.abandonStalledDisable(patch, transitionTimeoutMs);
    await this.unload(patch);
  }

  private withDefaults(options: TransitionOptions): Required<TransitionOptions> {
    return {
      transitionTimeoutMs: options.transitionTimeoutMs ?? this.defaults.transitionTimeoutMs,
      busyRetries: options.busyRetries ?? this.defaults.busyRetries,
    };
  }

  /** Everything that can be told from the file and sysfs before asking the kernel. */
  private async checkLoadable(path: string): Promise<ModuleInfo> {
    const info = await readModuleInfo(path);
    if (!info.livepatch) {
      throw new SplicedError('NotLivepatchModule', `${path} is a kernel module (${info.name}) but not a livepatch module.`, {
        path,
        module: info.name,
      });
    }
    const running = this.release();
    if (info.release !== running) {
      throw new SplicedError('WrongKernel', `${info.name} was built for kernel ${info.release}, but this machine runs ${running}.`, {
        path,
        module: info.name,
        vermagic: info.vermagic,
        running,
      });
    }
    if (await isModuleLoaded(this.roots, info.name)) {
      throw new SplicedError('AlreadyLoaded', `a module named ${info.name} is already loaded.`, { path, module: info.name });
    }
    return info;
  }

  private async insert(info: ModuleInfo, params: readonly string[]): Promise<void> {
    const mark = await this.log.position();
    try {
      await this.loader.insert(info.path, params);
    } catch (err) {
      if (!(err instanceof ModuleLoaderError)) throw err;
      if (err.errno === 'ENOTOOL') throw new SplicedError('LoadFailed', err.message, { path: info.path });
      const records = await this.log.recordsSince(mark);
      throw classifyLoadFailure({ path: info.path, name: info.name, release: this.release(), failure: err, records });
    }
  }

  /** Run `attempt`; while the kernel answers EBUSY (another transition runs), wait with doubling delays and retry. */
  private async retryWhileBusy<T>(retries: number, attempt: () => Promise<T>): Promise<T> {
    for (let tried = 0; ; tried++) {
      try {
        return await attempt();
      } catch (err) {
        const busy = isSplicedError(err, 'Busy') || errnoOf(err) === 'EBUSY';
        if (!busy) throw err;
        if (tried >= retries) {
          if (isSplicedError(err)) throw new SplicedError('Busy', `${err.message} (tried ${tried + 1} times)`, err.details);
          throw new SplicedError('Busy', `another livepatch transition is still running (tried ${tried + 1} times). Try again later.`);
        }
        await sleep(Math.min(this.busyBackoffMs * 2 ** tried, MAX_BUSY_BACKOFF_MS));
      }
    }
  }

  /** Poll until the patch's transition is over ('done'), its directory is gone, or the deadline passes. */
  private async waitForTransition(patch: string, timeoutMs: number): Promise<WaitOutcome> {
    return this.poll(patch, timeoutMs, (transition) => !transition);
  }

  /** A disable is finished when the patch directory is gone: since 5.1 the kernel frees every disabled patch. */
  private async waitForDisable(patch: string, timeoutMs: number): Promise<WaitOutcome> {
    return this.poll(patch, timeoutMs, () => false);
  }

  private async poll(patch: string, timeoutMs: number, done: (transition: boolean) => boolean): Promise<WaitOutcome> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const transition = await readTransition(this.roots, patch);
      if (transition === undefined) return 'gone';
      if (done(transition)) return 'done';
      if (performance.now() >= deadline) return 'timeout';
      await sleep(this.pollIntervalMs);
    }
  }

  private async writeEnabledUnlessGone(patch: string, enabled: boolean): Promise<void> {
    try {
      await writeEnabled(this.roots, patch, enabled);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENODEV') throw err;
    }
  }

  /** The enable did not finish in time: name the blockers, reverse it, unload, and say so. Never force. */
  private async abandonStalledEnable(patch: string, timeoutMs: number): Promise<never> {
    const blockingTasks = await findBlockingTasks(this.roots, 1);
    const seconds = Math.round(timeoutMs / 1000);
    const blocking = describeBlockers(blockingTasks);
    await this.writeEnabledUnlessGone(patch, false);
    const reversal = await this.waitForDisable(patch, timeoutMs);
    if (reversal === 'timeout') {
      throw new SplicedError(
        'TransitionStalled',
        `${patch} did not finish applying within ${seconds} s, and reversing it has not finished either; it is still in transition. Blocking: ${blocking}.`,
        { patch, timeoutMs, blockingTasks, reversed: false, unloaded: false },
      );
    }
    await this.unload(patch);
    throw new SplicedError(
      'TransitionStalled',
      `${patch} did not finish applying within ${seconds} s and was reversed and unloaded. Blocking: ${blocking}.`,
      { patch, timeoutMs, blockingTasks, reversed: true, unloaded: true },
    );
  }

  /** The disable did not finish in time: name the blockers and re-enable, so the patch stays fully applied. */
  private async abandonStalledDisable(patch: string, timeoutMs: number): Promise<never> {
    const blockingTasks = await findBlockingTasks(this.roots, 0);
    const seconds = Math.round(timeoutMs / 1000);
    const blocking = describeBlockers(blockingTasks);
    await this.writeEnabledUnlessGone(patch, true);
    const reversal = await this.waitForTransition(patch, timeoutMs);
    const state = reversal === 'done' ? 'it was re-enabled and stays applied' : 'reversing it has not finished; it is still in transition';
    throw new SplicedError(
      'TransitionStalled',
      `${patch} could not be disabled within ${seconds} s; ${state}. Blocking: ${blocking}.`,
      { patch, timeoutMs, blockingTasks, reversed: reversal === 'done', unloaded: false },
    );
  }

  /** Patches that were enabled before an atomic replace and are disabled or gone after it: wait until freed, rmmod. */
  private async retireSuperseded(enabledBefore: readonly string[]): Promise<string[]> {
    const superseded: string[] = [];
    for (const name of enabledBefore) {
      if (!(await readEnabled(this.roots, name))) superseded.push(name);
    }
    for (const name of superseded) {
      // The new patch is applied either way: a replaced module the kernel does not let go of in time is inert (its patch
      // is freed) and revert(name) still unloads it later, so it must not turn a good load into a failure.
      await this.unload(name).catch(() => undefined);
    }
    return superseded;
  }

  private async isLivepatchModuleLoaded(name: string): Promise<boolean> {
    try {
      return (await readFile(join(this.roots.sys, 'module', name, 'taint'), 'utf8')).includes('K');
    } catch {
      return false;
    }
  }

  /** rmmod, waiting while the kernel still holds the module (its patch being freed). A module already gone is fine. */
  private async unload(name: string): Promise<void> {
    const deadline = performance.now() + UNLOAD_SETTLE_MS;
    for (;;) {
      try {
        await this.loader.remove(name);
        return;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === 'ENOENT') return;
        if (errno !== 'EBUSY' || performance.now() >= deadline) {
          throw new SplicedError('LoadFailed', `${name} was disabled but could not be unloaded: ${(err as Error).message}`, {
            module: name,
            errno,
          });
        }
        await sleep(this.pollIntervalMs * 4);
      }
    }
  }
}
