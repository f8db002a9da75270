// Runs the external tools the builder drives (apt-get, dpkg-deb, tar, make, patch) and captures their output,
// so a failure can be reported with the tool's own last words instead of a bare exit status.

import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  /** Variables set for the child, on top of ours. */
  env?: NodeJS.ProcessEnv;
  /** Names of our variables the child must not inherit. */
  unset?: RegExp;
  /** Text written to the child's stdin. */
  input?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function inherited(unset: RegExp | undefined): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !unset?.test(name)));
}

/** Runs a program (no shell) and resolves with its exit status and output; rejects only if it cannot be started. */
export function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: { ...inherited(options.unset), LC_ALL: 'C', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    if (child.stdin) {
      // A tool may exit before reading all its input (patch refusing a hunk): its status says why, not EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** The last lines of a tool's output: enough to name the failure in an error message. */
export function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
