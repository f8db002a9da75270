// One build job, run apart from the daemon (builder.ts starts it: as its own systemd unit, spliced-build@.service,
// unprivileged; or as a child process). It reads its job as JSON on stdin, builds with the builder library, and
// writes one JSON message per line on stdout: each step, then the module (base64) or the named failure. It never
// signs (the key stays with the daemon) and never reads kernel memory (the daemon passes what it needs).

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSplice } from '../build/build';
import { asSplicedError } from '../errors';
import type { BuildJob, BuildWorkerMessage } from './builder';

function send(message: BuildWorkerMessage): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve()));
}

async function readJob(): Promise<BuildJob> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as BuildJob;
}

export async function runBuildWorker(): Promise<number> {
  const job = await readJob();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-job-'));
  try {
    const output = path.join(dir, 'splice.ko');
    const report = await buildSplice(
      {
        patchText: job.patchText,
        ...(job.sourceVersion !== null && { sourceVersion: job.sourceVersion }),
        runningKernel: job.runningKernel ?? undefined,
        maxHeaderUnits: job.maxHeaderUnits,
        onProgress: (step) => void send({ type: 'step', stage: step.stage, message: step.message }),
      },
      output,
    );
    await send({ type: 'built', module: (await fs.readFile(output)).toString('base64'), tree: report.kernel.tree });
  } catch (err) {
    const error = asSplicedError(err);
    await send({ type: 'failed', kind: error.kind, message: error.message, details: error.details });
    // A refused build is an answer, not a failed unit.
    return 0;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return 0;
}
