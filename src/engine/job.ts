// Jobs and the queue that runs them one at a time: the kernel allows one livepatch transition at a time, and the
// store's stack order must match the order in which patches went live.

import { EventEmitter } from 'node:events';
import { asSplicedError, SplicedError } from '../errors';
import type { Job, JobEvents, JobKind, JobResult, JobState } from './types';

export class EngineJob extends EventEmitter<JobEvents> implements Job {
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

export type JobWork = (job: EngineJob) => Promise<JobResult>;

/** Runs jobs strictly one after another, in the order they were queued. */
export class JobQueue {
  private readonly pending: EngineJob[] = [];
  private tail: Promise<unknown> = Promise.resolve();

  /** Jobs queued or running, oldest first. */
  jobs(): EngineJob[] {
    return [...this.pending];
  }

  get busy(): boolean {
    return this.pending.length > 0;
  }

  enqueue(job: EngineJob, work: JobWork, onSettled: () => void): void {
    this.pending.push(job);
    this.tail = this.tail.then(async () => {
      job.start();
      let outcome: { result: JobResult } | { error: SplicedError };
      try {
        outcome = { result: await work(job) };
      } catch (err) {
        outcome = { error: asSplicedError(err) };
      }
      // Off the queue before anyone hears it finished, so status() no longer counts it as busy.
      this.pending.splice(this.pending.indexOf(job), 1);
      if ('result' in outcome) job.succeed(outcome.result);
      else job.fail(outcome.error);
      onSettled();
    });
    // A throwing listener is a bug: surface it like any listener error would, without stalling the queue.
    this.tail = this.tail.catch((err: unknown) => queueMicrotask(() => {
      throw err;
    }));
  }

  /** Start no job before `gate` resolves. */
  hold(gate: Promise<void>): void {
    this.tail = this.tail.then(() => gate);
  }

  /** Resolves once every job queued so far has finished. */
  drain(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
