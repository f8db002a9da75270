// One job of the daemon, run apart from it (builder.ts starts it: as its own systemd unit, spliced-build@.service,
// unprivileged; or as a child process): a splice built from a source patch, or the distro feed's plan. It reads its
// job as JSON on stdin and writes one JSON message per line on stdout: each step, then its outcome (the module in
// base64, or the plan's report and patch) or the named failure; on stderr (the unit's journal) one line says what
// the job is and as which user it runs. It never signs (the key stays with the daemon) and never reads kernel memory
// (the daemon passes what it needs).

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { asSplicedError } from '../errors';
import type { BuildJob, PlanJob, WorkerJob, WorkerMessage } from './builder';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, () => resolve()));
}

async function readJob(): Promise<WorkerJob> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as WorkerJob;
}

async function build(job: BuildJob): Promise<WorkerMessage> {
  const { buildSplice } = await import('../build/build');
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
    return { type: 'built', module: (await fs.readFile(output)).toString('base64'), tree: report.kernel.tree };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function plan(job: PlanJob): Promise<WorkerMessage> {
  const { planFeed, planReport } = await import('../sources/feed/plan');
  const { deltaPatch } = await import('../sources/feed/delta');
  const planned = await planFeed({ running: job.running, targetVersion: job.target });
  return { type: 'planned', report: planReport(planned), patchText: planned.target ? deltaPatch(planned.target.delta) : '' };
}

function describe(job: WorkerJob): string {
  if (job.kind === 'plan') return `the distro feed's plan for ${job.running.release} (${job.running.sourceVersion}) to ${job.target}`;
  return `a splice from a patch of ${Buffer.byteLength(job.patchText)} bytes`;
}

export async function runBuildWorker(): Promise<number> {
  const job = await readJob();
  process.stderr.write(`spliced build-worker (uid ${process.getuid?.()}): ${describe(job)}\n`);
  try {
    await send(await (job.kind === 'plan' ? plan(job) : build(job)));
  } catch (err) {
    const error = asSplicedError(err);
    // A refused build or a failed plan is an answer, not a failed unit.
    await send({ type: 'failed', kind: error.kind, message: error.message, details: error.details });
  }
  return 0;
}
