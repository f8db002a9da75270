// The engine: apply / revert / list over the kernel port and the store, one mutating job at a time, with the boot
// sequence (reconcile, crash guard, reapply) run before any job. Knows nothing of D-Bus.

import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { asSplicedError, SplicedError } from '../errors';
import type { KernelPort } from '../kernel/types';
import type { ModuleStore, PatchRow, SetAsideDatabase, Session, Store } from '../store';
import { applyModule } from './apply';
import { applyCrashGuard, reapplyStack, type BootReport } from './boot';
import { buildFromPatch, clearBuildDir, forgetBuild, isSourcePatch, type BuildSettings, type BuiltModule } from './build-step';
import { buildOf, LiveView, type EngineContext, type EngineLog, type EngineSettings } from './context';
import { EngineJob, JobQueue, progressRange, type JobPrelude } from './job';
import { reconcileIntents, type Reconciliation } from './reconcile';
import { recordLivePatches } from './recover';
import { isForRunningKernel, toRecord } from './records';
import { planRevert, revertPatches } from './revert';
import type {
  ApplyInput,
  ApplyOptions,
  Engine,
  EngineEvents,
  EngineStatus,
  HistoryEvent,
  HistoryQuery,
  Job,
  PatchRecord,
  RevertOptions,
} from './types';
import { baseVersionOf, effectiveVersion } from './version';

export interface EngineDeps {
  kernel: KernelPort;
  store: Store;
  modules: ModuleStore;
  log: EngineLog;
  /** /proc/sys/kernel/random/boot_id of this boot. */
  bootId: string;
  settings: EngineSettings;
  /** How source patches are built; absent: Apply takes modules only (a patch fails with a named error). */
  builds?: BuildSettings;
  /** The damaged database moved aside when the store was opened: start() rebuilds the record from the live kernel. */
  setAsideDatabase?: SetAsideDatabase | null;
}

/** Share of an apply-from-patch job's progress taken by the build. */
const BUILD_SHARE = 60;

export interface StartReport extends BootReport {
  reconciled: Reconciliation[];
  /** Ids recorded from the live kernel after a damaged database was moved aside. */
  recovered: string[];
}

export class SplicedEngine extends EventEmitter<EngineEvents> implements Engine {
  private readonly queue = new JobQueue();
  private notLoaded: Map<string, string> = new Map();
  private started = false;
  private stopping = false;
  /** Why start() failed: mutating jobs are refused until spliced is restarted. */
  private startError: SplicedError | null = null;
  /** Shown as State `failed` with this reason. */
  private failedReason: string | null = null;
  private session: Session | null = null;
  private releaseQueue!: () => void;
  /** Fixes that reach the machine only by a reboot, reported by a source (the distro feed's refused fixes). */
  private sourceRebootReasons: string[] = [];
  /** Aborts running builds when the engine stops: a build is redone from the patch, never half-used. */
  private readonly builds = new AbortController();

  private constructor(
    private readonly ctx: EngineContext,
    private readonly buildSettings: BuildSettings | null,
    private readonly setAsideDatabase: SetAsideDatabase | null,
  ) {
    super();
    // Jobs wait for the boot sequence: nothing is applied or reverted before the recorded stack is in place.
    this.queue.hold(new Promise<void>((resolve) => (this.releaseQueue = resolve)));
  }

  /** Read the running kernel's identity and build the engine; call start() next. */
  static async create(deps: EngineDeps): Promise<SplicedEngine> {
    const identity = await deps.kernel.identity();
    const live = new LiveView(deps.kernel);
    await live.refresh();
    if (deps.builds) clearBuildDir(deps.builds);
    const { builds, setAsideDatabase, ...shared } = deps;
    return new SplicedEngine({ ...shared, identity, live }, builds ?? null, setAsideDatabase ?? null);
  }

  /** Apply the crash guard, reconcile interrupted intents, reapply the recorded stack. Run once, before READY=1. */
  async start(): Promise<StartReport> {
    const { store, bootId } = this.ctx;
    try {
      const recovered = this.setAsideDatabase ? await recordLivePatches(this.ctx, this.setAsideDatabase) : [];
      const firstSessionOfBoot = store.lastSessionOfBoot(bootId) === undefined;
      this.session = store.startSession(bootId);
      const held = applyCrashGuard(this.ctx, firstSessionOfBoot);
      const reconciled = await reconcileIntents(this.ctx);
      const report = await reapplyStack(this.ctx, held);
      this.notLoaded = report.notLoaded;
      return { ...report, reconciled, recovered };
    } catch (err) {
      this.startError = asSplicedError(err);
      this.failedReason = `start-up failed: ${this.startError.message}`;
      throw err;
    } finally {
      this.started = true;
      this.releaseQueue();
      this.emitStatus();
    }
  }

  /** Show State `failed` with `reason` (the daemon's last resort, just before it exits). */
  markFailed(reason: string): void {
    this.failedReason = reason;
    this.emitStatus();
  }

  /** What only a reboot brings, as a source of patches found it (the feed: fixes the builder refused, and why). */
  setSourceRebootReasons(reasons: string[]): void {
    if (JSON.stringify(reasons) === JSON.stringify(this.sourceRebootReasons)) return;
    this.sourceRebootReasons = [...reasons];
    this.emitStatus();
  }

  /** Record that the daemon is alive (the crash guard measures "shortly before the end" from the last of these). */
  heartbeat(): void {
    if (!this.session) return;
    // A timer calls this: a full disk (or any write error) skips one beat, logged, and never ends the daemon.
    try {
      this.ctx.store.markAlive(this.session.id);
    } catch (err) {
      const error = asSplicedError(err);
      this.ctx.log.warn({ kind: error.kind }, `heartbeat not recorded: ${error.message}`);
    }
  }

  /** Let the running job finish, fail the queued ones ("stopping"), record a clean stop. Never unloads patches. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.builds.abort();
    // Never started: nothing may run, but queued jobs must still finish (they fail as "stopping").
    if (!this.started) this.releaseQueue();
    await this.queue.drain();
    if (this.session) this.ctx.store.markCleanStop(this.session.id);
  }

  apply(input: ApplyInput, options: ApplyOptions): Job {
    const job = new EngineJob('apply', input.name, options.requestedBy ?? null);
    // A source patch is built first, outside the kernel queue; its module is then applied like any other.
    const fromPatch = isSourcePatch(input.content);
    let built: BuiltModule | null = null;
    const build: JobPrelude | undefined = fromPatch
      ? async (j) => {
          try {
            const building = progressRange(j, 0, BUILD_SHARE);
            built = await buildFromPatch(this.ctx, this.buildSettings, building, input, j.id, options, this.builds.signal);
            j.report(BUILD_SHARE, 'built; waiting for the kernel queue');
          } catch (err) {
            this.emit('patch-failed', { patch: null, target: input.name, error: asSplicedError(err) });
            throw err;
          }
        }
      : undefined;
    return this.enqueue(
      job,
      async (j) => {
        if (!fromPatch && options.sourceVersion !== undefined) {
          // A module is already built: a source version it would be built from means the caller meant something else.
          const error = new SplicedError('InvalidArgument', `${input.name} is not a source patch: a source version applies only to source patches`, {
            path: input.name,
          });
          this.emit('patch-failed', { patch: null, target: input.name, error });
          throw error;
        }
        try {
          // The built module is the engine's own file (its build directory), read once here.
          const module = built === null ? input : { content: fs.readFileSync(built.file), name: input.name };
          const outcome = await applyModule(this.ctx, progressRange(j, fromPatch ? BUILD_SHARE : 0, 100), module, options);
          const record = outcome.patch && this.record(outcome.patch);
          if (outcome.error) {
            this.emit('patch-failed', { patch: record, target: input.name, error: outcome.error });
            throw outcome.error;
          }
          this.notLoaded.delete(record!.id);
          this.emit('patch-applied', record!);
          return { patches: [record!] };
        } finally {
          if (built !== null) forgetBuild(built);
        }
      },
      build,
    );
  }

  revert(id: string, options: RevertOptions = {}): Job {
    return this.enqueue(new EngineJob('revert', id, options.requestedBy ?? null), async (job) => {
      const patch = this.resolve(id);
      let plan: ReturnType<typeof planRevert>;
      try {
        plan = planRevert(this.ctx, patch, options);
      } catch (err) {
        // A refused revert (RevertOrder, a bad supersededBy) is a failure of that patch's operation, as a refused apply is.
        this.emit('patch-failed', { patch: this.record(patch), target: id, error: asSplicedError(err) });
        throw err;
      }
      const outcome = await revertPatches(this.ctx, job, plan, options);
      const reverted = outcome.reverted.map((row) => this.record(row));
      for (const record of reverted) {
        this.notLoaded.delete(record.id);
        this.emit('patch-reverted', record);
      }
      if (outcome.failed) {
        const { patch: failedPatch, error } = outcome.failed;
        this.emit('patch-failed', { patch: this.record(failedPatch), target: id, error });
        throw error;
      }
      return { patches: reverted };
    });
  }

  list(): PatchRecord[] {
    const positions = this.ctx.store.stackPositions();
    const rows = this.ctx.store.allPatches();
    const mine = rows
      .filter((r) => positions.has(r.id) && isForRunningKernel(r, this.ctx))
      .sort((a, b) => positions.get(a.id)! - positions.get(b.id)!);
    const rest = rows.filter((r) => !mine.includes(r));
    return [...mine, ...rest].map((row) => this.record(row, positions.get(row.id) ?? null));
  }

  getPatch(id: string): PatchRecord {
    return this.record(this.resolve(id));
  }

  status(): EngineStatus {
    const { identity, settings, store, live } = this.ctx;
    const mine = store.allPatches().filter((row) => isForRunningKernel(row, this.ctx));
    const stack = store.stack(buildOf(identity)).map((e) => store.patch(e.patchId)!);
    const applied = stack.filter((row) => live.isApplied(row.name));
    const baseVersion = baseVersionOf(identity.version, identity.release);
    return {
      kernel: identity,
      livepatchSupported: settings.livepatchSupported,
      moduleSignatures: { ...live.signaturePolicy(), signingKey: settings.signingKey },
      baseVersion,
      effectiveVersion: effectiveVersion(
        baseVersion,
        mine
          .filter((row) => row.status !== 'superseded')
          .map((row) => ({ version: row.version, applied: row.status === 'applied' && live.isApplied(row.name) })),
      ),
      state:
        this.failedReason !== null
          ? 'failed'
          : !this.started
            ? 'starting'
            : this.queue.busy
              ? 'busy'
              : settings.disabledReason !== null
                ? 'disabled'
                : 'idle',
      disabledReason: this.failedReason ?? settings.disabledReason,
      ...this.rebootNeed(mine),
      applied: applied.map((row) => row.id),
      heldByCrashGuard: stack.filter((row) => row.heldReason !== null).map((row) => row.id),
    };
  }

  history(query?: HistoryQuery): HistoryEvent[] {
    return this.ctx.store.history(query);
  }

  jobs(): Job[] {
    return this.queue.jobs();
  }

  /**
   * The live kernel disagrees with the record in a way only a reboot fixes (a module that could not be unloaded), or
   * a source knows a fix that only a reboot brings.
   */
  private rebootNeed(mine: PatchRow[]): Pick<EngineStatus, 'rebootRequired' | 'rebootReasons'> {
    const reasons: string[] = [...this.sourceRebootReasons];
    for (const patch of this.ctx.live.all()) {
      if (!patch.enabled && !patch.transition) {
        reasons.push(`livepatch ${patch.name} is disabled but its module is still loaded`);
      }
    }
    for (const row of mine) {
      if (row.status !== 'applied' && row.status !== 'new' && this.ctx.live.isApplied(row.name)) {
        reasons.push(`patch ${row.id} (${row.name}) is recorded as ${row.status} but is still live`);
      }
    }
    return { rebootRequired: reasons.length > 0, rebootReasons: reasons };
  }

  private record(row: PatchRow, stackPosition = this.ctx.store.stackPosition(row.id)): PatchRecord {
    return toRecord(row, this.ctx, this.notLoaded, stackPosition);
  }

  /** A patch by id, or by livepatch name (the running kernel's first). */
  private resolve(idOrName: string): PatchRow {
    const byId = this.ctx.store.patch(idOrName);
    if (byId) return byId;
    const named = this.ctx.store.patchesNamed(idOrName);
    const found = named.find((row) => isForRunningKernel(row, this.ctx)) ?? named[0];
    if (found) return found;
    throw new SplicedError('NoSuchPatch', `no patch with id or name "${idOrName}" is known`, { id: idOrName });
  }

  private enqueue(job: EngineJob, work: (job: EngineJob) => Promise<{ patches: PatchRecord[] }>, prelude?: JobPrelude): Job {
    this.emit('job-created', job);
    const guarded = async (j: EngineJob) => {
      if (this.stopping) {
        throw new SplicedError('Internal', 'spliced is stopping; try again once it has started again');
      }
      if (this.startError !== null) {
        // Under the start's own kind: a full disk stays NoSpace, which callers (and the drop directory) know to retry.
        throw new SplicedError(
          this.startError.kind,
          `spliced could not start: ${this.startError.message}; fix the cause and restart spliced`,
          this.startError.details,
        );
      }
      return work(j);
    };
    this.queue.enqueue(job, guarded, () => this.emitStatus(), prelude);
    this.emitStatus();
    return job;
  }

  private emitStatus(): void {
    this.emit('status-changed', this.status());
  }
}
