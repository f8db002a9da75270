// The distro feed's plan in the daemon (docs/feed.md "In the daemon"): a `plan` job of the build worker, run by the
// same WorkerRunner as builds — under systemd in spliced-build@<id>.service, as the spliced-build user who owns
// the feed cache and the kernel trees, with the network for `apt-get download` that the daemon does not have;
// otherwise a child process. Streaming 1.4 GB source tarballs wants V8's JIT (the daemon runs --jitless), and the
// memory (up to ≈ 600 MB for a stable update) goes back to the system when the job ends.

import { SplicedError } from '../errors';
import type { PlanRunner } from '../sources/feed/plan';
import { runWorkerJob, type WorkerRunner } from './builder';

export function workerPlanner(runner: WorkerRunner): PlanRunner {
  return async (running, target, signal) => {
    try {
      const planned = await runWorkerJob(runner, { kind: 'plan', running, target }, 'planned', () => undefined, signal, planStopped);
      return { report: planned.report, patchText: planned.patchText };
    } catch (err) {
      if (signal.aborted || !(err instanceof SplicedError)) throw err;
      throw new SplicedError(err.kind, `the feed's plan for ${target} failed: ${err.message}`, { ...err.details, target });
    }
  };
}

function planStopped(): SplicedError {
  return new SplicedError('BuildFailed', 'the feed was stopped: spliced is stopping');
}
