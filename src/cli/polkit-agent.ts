// Like systemctl: when splicectl may ask for a password on a terminal, it runs polkit's text agent (pkttyagent) for
// itself while Apply/Revert is being authorised, so polkit can prompt right here. --fallback keeps a desktop's agent.

import { spawn } from 'node:child_process';

/** Start pkttyagent for this process and wait until it is registered (or has failed); returns how to stop it. */
export function startTtyAgent(): Promise<() => void> {
  // Without --process, pkttyagent registers for its parent: this process, the subject polkit will check.
  const agent = spawn('pkttyagent', ['--notify-fd=3', '--fallback'], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  const stop = () => {
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGTERM');
  };
  return new Promise((resolve) => {
    const ready = () => resolve(stop);
    // It closes fd 3 once registered; it exits if it cannot register; spawn fails if it is not installed.
    // In every case the call goes ahead: polkit then answers without asking.
    const notify = agent.stdio[3] as NodeJS.ReadableStream;
    notify.on('end', ready);
    notify.resume();
    agent.on('exit', ready);
    agent.on('error', ready);
  });
}
