// Stop requests, caught from the first moment of the process: a SIGTERM while Node is still loading the daemon
// (seconds on a slow machine) must not kill it without a clean-stop record, or the next boot's crash guard would
// take an orderly shutdown for a crash.

export interface StopRequest {
  /** Resolves with the signal once SIGTERM or SIGINT arrived. */
  readonly signal: Promise<NodeJS.Signals>;
  /** The signal if one already arrived. */
  received(): NodeJS.Signals | null;
}

export function catchStopSignals(): StopRequest {
  let received: NodeJS.Signals | null = null;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (name: NodeJS.Signals) => resolve((received = name));
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return { signal, received: () => received };
}
