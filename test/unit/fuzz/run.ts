// A fuzz target run in a worker thread with a deadline: a hang becomes a failure naming the iteration, its input
// made again from the seed and kept in a file.

import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FuzzRun, FuzzTarget, replay } from './fuzz';
import { makeTarget, TargetData, TargetName } from './targets';
import type { WorkerJob } from './worker';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

export async function fuzzInWorker(fuzzTarget: TargetName, data: TargetData, count: number, seed: number, deadlineMs: number): Promise<FuzzRun> {
  const progress = new SharedArrayBuffer(4);
  const job: WorkerJob = { fuzzTarget, data, count, seed, progress };
  const worker = new Worker(join(__dirname, 'worker.js'), { workerData: job });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<FuzzRun>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`fuzz worker exited with ${code} before reporting`)));
      timer = setTimeout(() => resolve(hung(fuzzTarget, data, seed, Atomics.load(new Int32Array(progress), 0), deadlineMs)), deadlineMs);
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

function hung(name: TargetName, data: TargetData, seed: number, iteration: number, deadlineMs: number): FuzzRun {
  const target = makeTarget(name, data) as FuzzTarget<Buffer | string>;
  const { value, how } = replay(target, seed, iteration);
  const kept = join(mkdtempSync(join(tmpdir(), `spliced-fuzz-${name}-`)), `iteration-${iteration}`);
  writeFileSync(kept, target.save(value));
  const error = `no answer within ${deadlineMs} ms: iteration ${iteration} hangs (or the whole run is too slow)`;
  return { accepted: 0, refused: 0, failures: [{ seed, iteration, how, error, kept }] };
}
