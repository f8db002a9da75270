// The child process of one build job (forked by builder.ts with an IPC channel): builds one splice with the builder
// library and reports each step, then the outcome. A child, not the daemon itself: it runs with V8's JIT (the
// daemon runs --jitless), its memory goes back to the system when it exits, and a stop can kill it outright.

import { buildSplice } from '../build/build';
import { asSplicedError } from '../errors';
import type { BuildRequestMessage, BuildWorkerMessage } from './builder';

function send(message: BuildWorkerMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

process.once('message', (request: BuildRequestMessage) => {
  void buildSplice(
    {
      patchText: request.patchText,
      signWith: request.signWith ?? undefined,
      onProgress: (step) => void send({ type: 'step', stage: step.stage, message: step.message }),
    },
    request.output,
  )
    .then(
      () => send({ type: 'built' }),
      (err: unknown) => {
        const error = asSplicedError(err);
        return send({ type: 'failed', kind: error.kind, message: error.message, details: error.details });
      },
    )
    .finally(() => process.disconnect());
});
