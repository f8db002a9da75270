// Jobs and the queue that runs them one at a time: the kernel allows one livepatch transition at a time, and the
// store's stack order must match the order in which patches went live.

import { EventEmitter } from 'node:events';
import { asSplicedError, SplicedError } from '../errors';
import type { Job, JobEvents, JobKind, JobResult, JobState } from './types';

/** Where a step of a job reports how far it got (0–100 within that step) and what it is doing. */
export interface ProgressReporter {
  report(progress: number, status: string): void;
}

/** A step that fills the range [from, to] of its job's progress: building takes the first part, applying the rest. */
export function progressRange(reporter: ProgressReporter, from: number, to: number): ProgressReporter {
  return { report: (progress, status) => reporter.report(from + ((to - from) * progress) / 100, status) };
}

export class EngineJob extends EventEmitter<JobEvents> implements Job, ProgressReporter {
  private static lastId = 0;

  readonly id = ++EngineJob.lastId;
  state: JobState = 'queued';
  progress = 0;
  status = 'waiting for the job before it';
  result: JobResult | null = null;
  error: SplicedError | null = null;
  readonly done: Promise<Job>;
  private resolveDone!: (job: Job) => void;

  constructor(
    readonly kind: JobKind,
    readonly target: string,
    readonly requestedBy: string | null = null,
  ) {
    super();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Report progress (0–100, never going back) and a one-line status. */
  report(progress: number, status: string): void {
    this.progress = Math.max(this.progress, Math.min(100, Math.round(progress)));
    this.status = status;
    this.emit('changed', this);
  }

  start(): void {
    this.state = 'running';
    this.report(this.progress, 'started');
  }

  succeed(result: JobResult): void {
    this.result = result;
    this.state = 'succeeded';
    this.progress = 100;
    this.status = 'done';
    this.finish();
  }

  fail(error: SplicedError): void {
    this.error = error;
    this.state = 'failed';
    this.status = error.message;
    this.finish();
  }

  private finish(): void {
    this.emit('changed', this);
    this.emit('finished', this);
    this.resolveDone(this);
  }
}

type Outcome = { result: JobResult } | { error: SplicedError };

export type JobWork = (job: EngineJob) => Promise<JobResult>;
/**
 * What a job does before it needs the kernel (building a splice from a patch): runs as soon as the job is queued,
 * beside other jobs, and the job takes its place in the kernel queue only once this is done — a build never holds up
 * a revert.
 */
export type JobPrelude = (job: EngineJob) => Promise<void>;

/** Runs jobs strictly one after another, in the order they were queued. */
export class JobQueue {
  private readonly pending: EngineJob[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  private readonly preludes = new Set<Promise<void>>();

  /** Jobs queued or running, oldest first. */
  jobs(): EngineJob[] {
    return [...this.pending];
  }

  get busy(): boolean {
    return this.pending.length > 0;
  }

  enqueue(job: EngineJob, work: JobWork, onSettled: () => void, prelude?: JobPrelude): void {
    this.pending.push(job);
    if (!prelude) {
      this.chain(job, work, onSettled);
      return;
    }
    job.start();
    // From the next microtask: whoever queued the job hears every step of it.
    const running = Promise.resolve().then(() => prelude(job)).then(
      () => this.chain(job, work, onSettled),
      (err: unknown) => this.settle(job, { error: asSplicedError(err) }, onSettled),
    );
    this.preludes.add(running);
    void running.finally(() => this.preludes.delete(running));
  }

  private chain(job: EngineJob, work: JobWork, onSettled: () => void): void {
    this.tail = this.tail.then(async () => {
      if (job.state === 'queued') job.start();
      let outcome: Outcome;
      try {
        outcome = { result: await work(job) };
      } catch (err) {
        outcome = { error: asSplicedError(err) };
      }
      this.settle(job, outcome, onSettled);
    });
    // A throwing listener is a bug: surface it like any listener error would, without stalling the queue.
    this.tail = this.tail.catch((err: unknown) => queueMicrotask(() => {
      throw err;
    }));
  }

  private settle(job: EngineJob, outcome: Outcome, onSettled: () => void): void {
    // Off the queue before anyone hears it finished, so status() no longer counts it as busy.
    this.pending.splice(this.pending.indexOf(job), 1);
    if ('result' in outcome) job.succeed(outcome.result);
    else job.fail(outcome.error);
    onSettled();
  }

  /** Start no job before `gate` resolves. */
  hold(gate: Promise<void>): void {
    this.tail = this.tail.then(() => gate);
  }

  /** Resolves once every job queued so far has finished (preludes first: they may still queue their job). */
  async drain(): Promise<void> {
    await Promise.all([...this.preludes]);
    await this.tail;
  }
}
