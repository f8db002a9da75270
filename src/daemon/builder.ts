// The engine's SpliceBuilder port for the daemon and `spliced tool`: each build runs `build-worker.js` in a child
// process of its own process group, so stopping spliced kills the whole build (make, gcc) at once. The worker's
// temporary files go to the engine's build directory (TMPDIR): the unit's file system is read-only elsewhere.

import { fork } from 'node:child_process';
import * as path from 'node:path';
import type { BuildStage } from '../build/build';
import type { SigningKey } from '../build/module/signing-key';
import type { BuildStep, SpliceBuilder } from '../engine';
import { isErrorKind, SplicedError } from '../errors';

export interface BuildRequestMessage {
  patchText: string;
  output: string;
  signWith: SigningKey | null;
}

export type BuildWorkerMessage =
  | { type: 'step'; stage: BuildStage; message: string }
  | { type: 'built' }
  | { type: 'failed'; kind: string; message: string; details: Record<string, unknown> };

/** Where each stage starts in the build's progress (preparing a tree, ≈ 1 min, happens once per kernel). */
const STAGE_PROGRESS: Record<BuildStage, number> = { vet: 2, tree: 5, compile: 30, splice: 80 };

/** Keep the end of the worker's stderr: if it dies without a word, its last lines say why. */
const STDERR_TAIL_BYTES = 4096;

/** `signWith`: the key every splice is signed with (null: unsigned). */
export function forkedBuilder(tmpDir: string, signWith: SigningKey | null): SpliceBuilder {
  return {
    build(patchText: string, output: string, onStep: (step: BuildStep) => void, signal: AbortSignal): Promise<void> {
      return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(buildStopped());
        // execArgv []: not the daemon's --jitless; the differ wants the JIT.
        const child = fork(path.join(__dirname, 'build-worker.js'), [], {
          execArgv: [],
          env: { ...process.env, TMPDIR: tmpDir },
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
          detached: true,
        });
        let stderr = '';
        let outcome: BuildWorkerMessage | null = null;
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES)));
        const kill = (): void => {
          // The whole group: the worker and the make/gcc it started.
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        };
        signal.addEventListener('abort', kill, { once: true });
        child.on('message', (message: BuildWorkerMessage) => {
          if (message.type === 'step') onStep({ progress: STAGE_PROGRESS[message.stage], message: message.message });
          else outcome = message;
        });
        child.on('error', (err) => reject(new SplicedError('BuildFailed', `cannot start the build process: ${err.message}`)));
        child.on('exit', (code, exitSignal) => {
          signal.removeEventListener('abort', kill);
          if (signal.aborted) return reject(buildStopped());
          const result = outcome as BuildWorkerMessage | null;
          if (result?.type === 'built') return resolve();
          if (result?.type === 'failed') {
            return reject(new SplicedError(isErrorKind(result.kind) ? result.kind : 'BuildFailed', result.message, result.details));
          }
          const how = exitSignal ? `was killed by ${exitSignal}` : `exited with status ${code}`;
          reject(new SplicedError('BuildFailed', `the build process ${how}${stderr ? `:\n${stderr.trim()}` : ''}`));
        });
        child.send({ patchText, output, signWith } satisfies BuildRequestMessage);
      });
    },
  };
}

export function buildStopped(): SplicedError {
  return new SplicedError('BuildFailed', 'the build was stopped: spliced is stopping; apply the patch again once it runs');
}
