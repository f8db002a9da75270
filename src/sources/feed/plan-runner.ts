// The feed's plan for one target version, run as `command.js plan` in a child process: streaming 1.4 GB source
// tarballs wants V8's JIT (the daemon runs --jitless), the memory (up to ≈ 600 MB for a stable update) goes back
// to the system when it exits, and a stop kills it with its apt and tar children (its own process group).

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError, isErrorKind } from '../../errors';

/** What command.js prints (docs/feed.md "The plan, by hand"), as far as the daemon reads it. */
export interface PlanReport {
  target?: { sourceVersion: string; image?: { package: string } };
  changelog?: { version: string; cves: string[]; lines: { text: string; cves?: string[]; files?: string[] }[] }[];
  delta?: { files: { path: string; kind: string; change: string }[]; buildFiles: string[] };
}

export interface FeedPlan {
  report: PlanReport;
  /** The delta as one patch (a/ b/ prefixes), "" when nothing this kernel builds changed. */
  patchText: string;
}

export type PlanRunner = (running: { release: string; sourceVersion: string }, target: string, signal: AbortSignal) => Promise<FeedPlan>;

const COMMAND = path.join(__dirname, 'command.js');
const STDERR_TAIL = 4096;

/** `scratch`: a directory of the daemon's own for the patch file. */
export function childPlanRunner(scratch: string): PlanRunner {
  return async (running, target, signal) => {
    await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
    const patchFile = path.join(scratch, `delta-${target}.patch`);
    await fs.rm(patchFile, { force: true });
    const args = [COMMAND, 'plan', '--running-release', running.release, '--running-version', running.sourceVersion, '--target-version', target, '--patch', patchFile];
    const { code, stdout, stderr } = await runChild(args, signal);
    if (code !== 0) {
      const named = /\((\w+)\)\s*$/.exec(stderr.trim());
      const kind = named && isErrorKind(named[1]) ? named[1] : 'BuildFailed';
      throw new SplicedError(kind, `the feed's plan for ${target} failed: ${stderr.trim().slice(-STDERR_TAIL)}`, { target });
    }
    const report = JSON.parse(stdout) as PlanReport;
    const patchText = await fs.readFile(patchFile, 'utf8').catch(() => '');
    await fs.rm(patchFile, { force: true });
    return { report, patchText };
  };
}

function runChild(args: string[], signal: AbortSignal): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(stopped());
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_TAIL)));
    const kill = () => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL');
    signal.addEventListener('abort', kill, { once: true });
    child.on('error', reject);
    child.on('close', (code) => {
      signal.removeEventListener('abort', kill);
      if (signal.aborted) reject(stopped());
      else resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

function stopped(): SplicedError {
  return new SplicedError('BuildFailed', 'the feed was stopped: spliced is stopping');
}
