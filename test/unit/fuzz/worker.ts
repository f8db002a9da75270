// Runs one fuzz target in a worker thread, so that an input that makes a reader loop forever fails the test (the
// main thread's deadline ends the worker) instead of hanging it. Does nothing when run on its own.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fuzzHere } from './fuzz';
import { makeTarget, TargetData, TargetName } from './targets';

export interface WorkerJob {
  fuzzTarget: TargetName;
  data: TargetData;
  count: number;
  seed: number;
  /** Int32Array[1]: the iteration under way. */
  progress: SharedArrayBuffer;
}

if (!isMainThread && parentPort && (workerData as WorkerJob | undefined)?.fuzzTarget) {
  const job = workerData as WorkerJob;
  const target = makeTarget(job.fuzzTarget, job.data) as Parameters<typeof fuzzHere>[1];
  parentPort.postMessage(fuzzHere(job.fuzzTarget, target, job.count, job.seed, new Int32Array(job.progress)));
}
