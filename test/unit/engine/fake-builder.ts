// A SpliceBuilder for host unit tests of the engine's build path: "builds" a fake module (see fake-kernel.ts) named
// after the patch, or fails with a given error, optionally holding until released. The real builder is tested in
// test/unit/build and in the guest.

import * as fs from 'node:fs';
import type { BuildSource, BuildStep, SpliceBuilder } from '../../../src/engine/types';
import { SplicedError } from '../../../src/errors';
import type { FakeModule } from './fake-kernel';
import { FAKE_IDENTITY } from './fake-kernel';

export interface BuildCall {
  patchText: string;
  sourceVersion?: string;
  output: string;
  signal: AbortSignal;
}

export class FakeBuilder implements SpliceBuilder {
  readonly calls: BuildCall[] = [];
  /** The module the next builds produce, from the patch text; or the error they fail with. */
  outcome: ((patchText: string) => FakeModule) | SplicedError = (text) => ({ name: `built_${text.length}` });
  /** While set, builds wait for it before finishing (or for their abort). */
  hold: Promise<void> | null = null;

  async build({ patchText, sourceVersion }: BuildSource, output: string, onStep: (step: BuildStep) => void, signal: AbortSignal): Promise<void> {
    this.calls.push({ patchText, ...(sourceVersion !== undefined && { sourceVersion }), output, signal });
    onStep({ progress: 30, message: 'compiling fs/proc/meminfo.c' });
    if (this.hold) {
      const aborted = new Promise<never>((_, reject) =>
        signal.addEventListener('abort', () => reject(new SplicedError('BuildFailed', 'the build was stopped')), { once: true }),
      );
      await Promise.race([this.hold, aborted]);
    }
    if (this.outcome instanceof SplicedError) throw this.outcome;
    onStep({ progress: 80, message: 'comparing objects and generating the module' });
    fs.writeFileSync(output, JSON.stringify({ release: FAKE_IDENTITY.release, livepatch: true, ...this.outcome(patchText) }));
  }
}

/** A small unified diff, as `git format-patch` would write it. */
export function samplePatch(subject = 'proc: fix meminfo'): string {
  return [
    `Subject: [PATCH] ${subject}`,
    '',
    '---',
    'diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo.c',
    '--- a/fs/proc/meminfo.c',
    '+++ b/fs/proc/meminfo.c',
    '@@ -1,1 +1,1 @@',
    '-old',
    '+new',
    '',
  ].join('\n');
}
