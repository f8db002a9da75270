// The engine's SpliceBuilder port for the daemon and `spliced tool`: each build — and each plan of the distro feed
// (plan-job.ts) — is one `spliced build-worker` job (build-worker.ts), run apart from the daemon in one of two places:
// - its own systemd unit, spliced-build@<id>.service: the unprivileged `spliced-build` user, no capabilities,
//   its own limits (units/spliced-build@.service, docs/systemd.md). The job file and the worker's output live in the
//   daemon's runtime directory; systemd opens them for the unit.
// - a child process of its own process group (spliced tool, tests, a daemon not started by systemd).
// Either way the worker gets the running kernel's kallsyms and build id from here (it may not read them itself), and
// the finished module is signed here, where the key is readable: the build never sees the key.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { BuildStage } from '../build/build';
import { signModule } from '../build/module/sign';
import type { SigningKey } from '../build/module/signing-key';
import { readRunningKernelFacts, type RunningKernelFacts } from '../build/splice';
import type { BuildSource, BuildStep, SpliceBuilder } from '../engine';
import { isErrorKind, SplicedError } from '../errors';
import type { PlanReport } from '../sources/feed/plan';

/** A splice built from a source patch. */
export interface BuildJob {
  kind: 'build';
  patchText: string;
  /** BuildSource.sourceVersion; null: the running kernel's own source. */
  sourceVersion: string | null;
  runningKernel: RunningKernelFacts | null;
  /** config max_header_units. */
  maxHeaderUnits: number;
}

/** The distro feed's plan for the running kernel and a target source version (plan-job.ts). */
export interface PlanJob {
  kind: 'plan';
  running: { release: string; sourceVersion: string };
  target: string;
}

export type WorkerJob = BuildJob | PlanJob;

export type WorkerMessage =
  | { type: 'step'; stage: BuildStage; message: string }
  | { type: 'built'; module: string; tree: string }
  | { type: 'planned'; report: PlanReport; patchText: string }
  | { type: 'failed'; kind: string; message: string; details: Record<string, unknown> };

/** Runs one worker: feeds it the job, hands over each message line, resolves when it has ended (how, if abnormally). */
export type WorkerRunner = (job: WorkerJob, onMessage: (message: WorkerMessage) => void, signal: AbortSignal) => Promise<string | null>;

/** Where each stage starts in the build's progress (preparing a tree, ≈ 1 min, happens once per kernel). */
const STAGE_PROGRESS: Record<BuildStage, number> = { vet: 2, tree: 5, compile: 30, splice: 80 };

/** Keep the end of the worker's stderr: if it dies without a word, its last lines say why. */
const STDERR_TAIL_BYTES = 4096;

const SPLICED_MAIN = path.join(__dirname, 'main.js');

function parseLine(line: string, onMessage: (message: WorkerMessage) => void): void {
  if (line.trim() === '') return;
  try {
    onMessage(JSON.parse(line) as WorkerMessage);
  } catch {
    // Not a message (a stray line of output): ignored, the outcome decides.
  }
}

/** A child process in its own process group, so a stop kills the worker and the make/gcc it started at once. */
export function processRunner(tmpDir: string): WorkerRunner {
  return (job, onMessage, signal) =>
    new Promise((resolve, reject) => {
      // execArgv []: not the daemon's --jitless; the differ wants the JIT.
      const child: ChildProcess = spawn(process.execPath, [SPLICED_MAIN, 'build-worker'], {
        env: { ...process.env, TMPDIR: tmpDir },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES)));
      createInterface({ input: child.stdout! }).on('line', (line) => parseLine(line, onMessage));
      const kill = (): void => {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      };
      signal.addEventListener('abort', kill, { once: true });
      child.on('error', (err) => reject(new SplicedError('BuildFailed', `cannot start the build process: ${err.message}`)));
      child.on('close', (code, exitSignal) => {
        signal.removeEventListener('abort', kill);
        if (code === 0) return resolve(null);
        resolve(`the build process ${exitSignal ? `was killed by ${exitSignal}` : `exited with status ${code}`}${stderr ? `:\n${stderr.trim()}` : ''}`);
      });
      child.stdin!.on('error', () => undefined).end(JSON.stringify(job));
    });
}

export function systemctl(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('systemctl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => resolve({ code: null, stderr: err.message }));
    child.on('close', (code) => resolve({ code, stderr: stderr.trim() }));
  });
}

/** Reads whole lines appended to a file until stopped, then the rest. */
function followLines(file: string, onLine: (line: string) => void): { stop: () => Promise<void> } {
  let offset = 0;
  let partial = '';
  const buffer = Buffer.alloc(1 << 20);
  const readNew = async (): Promise<void> => {
    const handle = await fs.open(file, 'r').catch(() => null);
    if (!handle) return;
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const lines = (partial + buffer.toString('utf8', 0, bytesRead)).split('\n');
        partial = lines.pop()!;
        lines.forEach(onLine);
      }
    } finally {
      await handle.close();
    }
  };
  let reading = Promise.resolve();
  const timer = setInterval(() => (reading = reading.then(readNew)), 500);
  return {
    stop: async () => {
      clearInterval(timer);
      await reading;
      await readNew();
      if (partial !== '') onLine(partial);
    },
  };
}

/** The build unit's instance name for a job. */
export const BUILD_UNIT = (id: string) => `spliced-build@${id}.service`;

/**
 * spliced-build@<id>.service (Type=oneshot: `systemctl start` returns when the build has ended). Its stdin is
 * `<runDir>/builds/<id>.job`, its stdout `<runDir>/builds/<id>.out`, both named in the unit file.
 */
export function unitRunner(runDir: string): WorkerRunner {
  return async (job, onMessage, signal) => {
    const id = randomBytes(6).toString('hex');
    const dir = path.join(runDir, 'builds');
    const jobFile = path.join(dir, `${id}.job`);
    const outFile = path.join(dir, `${id}.out`);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.writeFile(jobFile, JSON.stringify(job), { mode: 0o600 });
    const follower = followLines(outFile, (line) => parseLine(line, onMessage));
    const stop = () => void systemctl(['stop', BUILD_UNIT(id)]);
    signal.addEventListener('abort', stop, { once: true });
    try {
      // The finally below reads the output's last lines before the caller looks at the outcome.
      const started = await systemctl(['start', BUILD_UNIT(id)]);
      if (started.code === 0) return null;
      return `${BUILD_UNIT(id)} failed${started.stderr ? `: ${started.stderr}` : ''} (journalctl -u ${BUILD_UNIT(id)})`;
    } finally {
      signal.removeEventListener('abort', stop);
      await follower.stop();
      await fs.rm(jobFile, { force: true });
      await fs.rm(outFile, { force: true });
    }
  };
}

/**
 * Runs one job to its outcome, which must be of type `expect`: the worker's steps go to `onStep`, its named failure
 * is thrown as that error, a worker that ended without the outcome is BuildFailed saying how it ended, and
 * `stopped()` is thrown when `signal` ended the job.
 */
export async function runWorkerJob<T extends 'built' | 'planned'>(
  runner: WorkerRunner,
  job: WorkerJob,
  expect: T,
  onStep: (step: BuildStep) => void,
  signal: AbortSignal,
  stopped: () => SplicedError,
): Promise<Extract<WorkerMessage, { type: T }>> {
  if (signal.aborted) throw stopped();
  let outcome: WorkerMessage | null = null;
  const ended = await runner(job, (message) => {
    if (message.type === 'step') onStep({ progress: STAGE_PROGRESS[message.stage] ?? 0, message: String(message.message) });
    else outcome = message;
  }, signal);
  if (signal.aborted) throw stopped();
  const result = outcome as WorkerMessage | null;
  if (result?.type === 'failed') {
    throw new SplicedError(isErrorKind(result.kind) ? result.kind : 'BuildFailed', String(result.message), result.details ?? {});
  }
  if (result?.type !== expect) throw new SplicedError('BuildFailed', ended ?? `the ${job.kind} job ended without a result`);
  return result as Extract<WorkerMessage, { type: T }>;
}

/** `signWith`: the key every splice is signed with (null: unsigned); `maxHeaderUnits`: config max_header_units. */
export function workerBuilder(runner: WorkerRunner, signWith: SigningKey | null, maxHeaderUnits: number): SpliceBuilder {
  return {
    async build(source: BuildSource, output: string, onStep: (step: BuildStep) => void, signal: AbortSignal): Promise<void> {
      if (signal.aborted) throw buildStopped();
      // Every daemon build is for the running kernel. Unreadable here (not root): the worker names the failure itself.
      const runningKernel = await readRunningKernelFacts().catch(() => null);
      const job: BuildJob = { kind: 'build', patchText: source.patchText, sourceVersion: source.sourceVersion ?? null, runningKernel, maxHeaderUnits };
      const built = await runWorkerJob(runner, job, 'built', onStep, signal, buildStopped);
      await fs.writeFile(output, Buffer.from(built.module, 'base64'), { mode: 0o600 });
      if (signWith) await signModule({ sourceDir: built.tree }, signWith, output);
    },
  };
}

export function buildStopped(): SplicedError {
  return new SplicedError('BuildFailed', 'the build was stopped: spliced is stopping; apply the patch again once it runs');
}
