// A cap on build worker processes running at once (config max_concurrent_builds): each is a compiler run of its own,
// so queued patches must not fork one each. Further builds wait for a slot, first come first served.

import type { BuildStep, SpliceBuilder } from '../engine';
import { buildStopped } from './builder';

export function limitConcurrentBuilds(builder: SpliceBuilder, maxConcurrent: number): SpliceBuilder {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  /** Resolves once a slot is this build's; rejects (taking none) if the build is stopped first. */
  const takeSlot = (onStep: (step: BuildStep) => void, signal: AbortSignal): Promise<void> => {
    if (running < maxConcurrent) {
      running++;
      return Promise.resolve();
    }
    onStep({ progress: 0, message: `waiting for another build to finish (at most ${maxConcurrent} at a time)` });
    return new Promise((resolve, reject) => {
      const take = () => {
        signal.removeEventListener('abort', stop);
        running++;
        resolve();
      };
      const stop = () => {
        waiting.splice(waiting.indexOf(take), 1);
        reject(buildStopped());
      };
      waiting.push(take);
      signal.addEventListener('abort', stop, { once: true });
    });
  };
  return {
    async build(source, output, onStep, signal) {
      if (signal.aborted) throw buildStopped();
      await takeSlot(onStep, signal);
      try {
        await builder.build(source, output, onStep, signal);
      } finally {
        release();
      }
    },
  };
}
