// `splicectl monitor` as a background process for the monitor tests: its output as it comes, and ways to wait for it.

import { spawn, type ChildProcess } from 'node:child_process';
import { stopChild } from '../../support/child';
import { splicectlMain } from '../../support/repo';
import { eventually } from '../bus/harness';

export interface MonitorProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout's complete lines. */
  lines(): string[];
  /** Wait until stdout has at least `n` lines (or fail, naming what it has). */
  lineCount(n: number, timeoutMs?: number): Promise<string[]>;
  /** Wait until stderr matches. */
  said(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM it; resolves with its exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Stop every monitor still running (a failed test leaves its own). */
export async function stopMonitors(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
}

/** Start `splicectl monitor ARGS` and resolve once it watches (its "watching spliced" line). */
export async function startMonitor(args: string[], env: NodeJS.ProcessEnv, uid?: number): Promise<MonitorProcess> {
  const child = spawn(process.execPath, [splicectlMain(uid), 'monitor', ...args], {
    env: { ...process.env, ...env },
    uid,
    gid: uid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const lines = () => out.split('\n').slice(0, -1);
  const alive = () => child.exitCode === null && child.signalCode === null;
  const p: MonitorProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    lines,
    lineCount: (n, timeoutMs = 10_000) =>
      eventually(() => (lines().length >= n ? lines() : undefined), timeoutMs).catch(() => {
        throw new Error(`expected ${n} lines from splicectl monitor, got:\n${out}\nstderr:\n${err}`);
      }),
    said: (pattern, timeoutMs = 10_000) =>
      eventually(() => (pattern.test(err) ? true : undefined), timeoutMs).then(
        () => undefined,
        () => {
          throw new Error(`splicectl monitor did not say ${pattern}; stderr:\n${err}\nstdout:\n${out}`);
        },
      ),
    stop: async () => {
      await stopChild(child);
      return child.exitCode;
    },
  };
  await eventually(() => (/watching spliced/.test(err) || !alive() ? true : undefined), 15_000).catch(() => undefined);
  if (!/watching spliced/.test(err)) {
    await stopChild(child);
    throw new Error(`splicectl monitor did not start (exit ${child.exitCode}):\n${err}`);
  }
  return p;
}
