// A scripted Engine for the bus and CLI tests: same public API as src/engine (types.ts), no kernel, no store.
// Jobs run through queued → running → succeeded/failed on short timers, so progress can be watched.

import { EventEmitter } from 'node:events';
import { SplicedError } from '../../../src/errors';
import type {
  ApplyInput,
  ApplyOptions,
  Engine,
  EngineStatus,
  HistoryEvent,
  HistoryEventKind,
  HistoryQuery,
  Job,
  JobKind,
  JobResult,
  JobState,
  PatchRecord,
  RevertOptions,
} from '../../../src/engine/types';

export class FakeJob extends EventEmitter implements Job {
  state: JobState = 'queued';
  progress = 0;
  status = 'queued';
  result: JobResult | null = null;
  error: SplicedError | null = null;
  readonly done: Promise<Job>;
  private resolveDone!: (job: Job) => void;

  constructor(
    readonly id: number,
    readonly kind: JobKind,
    readonly target: string,
    readonly requestedBy: string | null,
  ) {
    super();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  step(progress: number, status: string): void {
    this.state = 'running';
    this.progress = progress;
    this.status = status;
    this.emit('changed', this);
  }

  finish(outcome: JobResult | SplicedError): void {
    if (outcome instanceof SplicedError) {
      this.state = 'failed';
      this.error = outcome;
      this.status = outcome.message;
    } else {
      this.state = 'succeeded';
      this.result = outcome;
      this.progress = 100;
      this.status = 'done';
    }
    this.emit('changed', this);
    this.emit('finished', this);
    this.resolveDone(this);
  }
}

export function patchRecord(id: string, overrides: Partial<PatchRecord> = {}): PatchRecord {
  return {
    id,
    name: `livepatch_${id}`,
    sha256: id.padEnd(64, '0'),
    origin: 'dbus',
    kernelRelease: '6.1.0-56-amd64',
    kernelBuildId: 'b'.repeat(40),
    description: `fix ${id}`,
    cves: ['CVE-2026-0001'],
    version: '6.1.160-1',
    functions: [{ object: 'vmlinux', name: 'cmdline_proc_show', sympos: 0 }],
    state: 'applied',
    stateReason: null,
    stackPosition: 1,
    addedAt: '2026-11-20T10:00:00.000Z',
    appliedAt: '2026-11-20T10:00:01.000Z',
    lastError: null,
    ...overrides,
  };
}

export function engineStatus(overrides: Partial<EngineStatus> = {}): EngineStatus {
  return {
    kernel: { release: '6.1.0-56-amd64', buildId: 'b'.repeat(40), version: 'Linux version 6.1.0-56-amd64 (Debian 6.1.158-1)' },
    livepatchSupported: true,
    moduleSignatures: { required: false, lockdown: 'none', sigEnforce: false, signingKey: null },
    baseVersion: '6.1.158-1',
    effectiveVersion: '6.1.158-1',
    state: 'idle',
    disabledReason: null,
    rebootRequired: false,
    rebootReasons: [],
    applied: [],
    heldByCrashGuard: [],
    ...overrides,
  };
}

export interface RecordedCall {
  method: 'apply' | 'revert';
  target: string;
  /** The content apply was given. */
  content?: Buffer;
  options: ApplyOptions | RevertOptions | undefined;
}

export class FakeEngine extends EventEmitter implements Engine {
  patches: PatchRecord[] = [];
  events: HistoryEvent[] = [];
  /** What applying a file (by its name) gives: the record it becomes, or the error it fails with (others: CorruptModule). */
  readonly applyOutcomes = new Map<string, PatchRecord | SplicedError>();
  readonly calls: RecordedCall[] = [];
  /** Thrown by list() when set: an engine bug the adapter must not leak as a stack trace. */
  listThrows: Error | null = null;
  stepMs = 30;
  private currentStatus = engineStatus();
  private running: FakeJob[] = [];
  private nextJobId = 1;

  apply(input: ApplyInput, options: ApplyOptions): Job {
    this.calls.push({ method: 'apply', target: input.name, content: input.content, options });
    const job = this.newJob('apply', input.name, options.requestedBy);
    this.run(job, () => {
      const outcome = this.applyOutcomes.get(input.name) ?? new SplicedError('CorruptModule', `${input.name} is no module`);
      if (outcome instanceof SplicedError) {
        this.record('failed', null, outcome.message);
        this.emit('patch-failed', { patch: null, target: input.name, error: outcome });
        return outcome;
      }
      const record: PatchRecord = { ...outcome, state: 'applied', stackPosition: this.applied().length + 1 };
      this.patches = [...this.patches.filter((p) => p.id !== record.id), record];
      this.record('applied', record, null);
      this.emit('patch-applied', record);
      return { patches: [record] };
    });
    return job;
  }

  revert(id: string, options?: RevertOptions): Job {
    this.calls.push({ method: 'revert', target: id, options });
    const job = this.newJob('revert', id, options?.requestedBy);
    this.run(job, () => {
      const patch = this.getPatch(id);
      const stack = this.applied();
      const above = stack.filter((p) => (p.stackPosition ?? 0) > (patch.stackPosition ?? 0));
      if (above.length > 0 && !options?.downTo) {
        return new SplicedError('RevertOrder', `revert ${above.map((p) => p.id).join(', ')} first`);
      }
      const reverted = [...above.reverse(), patch].map((p) => ({ ...p, state: 'reverted' as const, stackPosition: null }));
      for (const r of reverted) {
        this.patches = this.patches.map((p) => (p.id === r.id ? r : p));
        this.record('reverted', r, null);
        this.emit('patch-reverted', r);
      }
      return { patches: reverted };
    });
    return job;
  }

  list(): PatchRecord[] {
    if (this.listThrows) throw this.listThrows;
    return this.patches;
  }

  getPatch(id: string): PatchRecord {
    const patch = this.patches.find((p) => p.id === id || p.name === id);
    if (!patch) throw new SplicedError('NoSuchPatch', `no patch "${id}" is known`, { id });
    return patch;
  }

  status(): EngineStatus {
    return this.currentStatus;
  }

  history(query: HistoryQuery = {}): HistoryEvent[] {
    return this.events
      .filter((e) => query.patchId === undefined || e.patchId === query.patchId)
      .slice()
      .reverse()
      .slice(0, query.limit ?? 100);
  }

  jobs(): Job[] {
    return this.running;
  }

  setStatus(overrides: Partial<EngineStatus>): void {
    this.currentStatus = { ...this.currentStatus, ...overrides };
    this.emit('status-changed', this.currentStatus);
  }

  private applied(): PatchRecord[] {
    return this.patches.filter((p) => p.state === 'applied');
  }

  private newJob(kind: JobKind, target: string, requestedBy: string | undefined): FakeJob {
    const job = new FakeJob(this.nextJobId++, kind, target, requestedBy ?? null);
    this.running.push(job);
    this.emit('job-created', job);
    return job;
  }

  private run(job: FakeJob, outcome: () => JobResult | SplicedError): void {
    // Unref'd: a test that stops the daemon mid-job must not wait for the fake job to end.
    const later = (ms: number, fn: () => void) => setTimeout(fn, ms).unref();
    later(this.stepMs, () => {
      this.setStatus({ state: 'busy' });
      job.step(40, job.kind === 'apply' ? 'loading the module' : 'disabling the livepatch');
      later(this.stepMs, () => {
        job.step(80, 'waiting for the livepatch transition');
        later(this.stepMs, () => {
          let result: JobResult | SplicedError;
          try {
            result = outcome();
          } catch (err) {
            result = err instanceof SplicedError ? err : new SplicedError('Internal', String(err));
          }
          this.running = this.running.filter((j) => j !== job);
          this.setStatus({ state: 'idle', applied: this.applied().map((p) => p.id) });
          job.finish(result);
        });
      });
    });
  }

  private record(kind: HistoryEventKind, patch: PatchRecord | null, reason: string | null): void {
    this.events.push({
      seq: this.events.length + 1,
      at: new Date(Date.UTC(2026, 10, 26, 12, 0, this.events.length)).toISOString(),
      kind,
      patchId: patch?.id ?? '',
      patchName: patch?.name ?? '',
      kernelRelease: this.currentStatus.kernel.release,
      bootId: 'boot-1',
      reason,
      requestedBy: null,
    });
  }
}
