#!/usr/bin/env node
// The `spliced` binary. `spliced` (or `spliced daemon`) runs the service; `spliced tool …` drives the engine
// in-process; `spliced build …` is the builder. Each mode loads only what it needs.

import { catchStopSignals } from './signals';

const USAGE = `usage: spliced [daemon]          run the daemon (systemd service)
       spliced tool COMMAND ...  drive the engine without D-Bus (spliced tool --help)
       spliced build ...         build a splice from a patch (spliced build --help)`;

async function main(argv: string[]): Promise<number> {
  const [mode, ...rest] = argv;
  switch (mode) {
    case undefined:
    case 'daemon': {
      const stop = catchStopSignals();
      return (await import('./daemon')).runDaemon(stop);
    }
    case 'tool':
      if (rest[0] === '--help' || rest[0] === '-h') {
        process.stdout.write(`${(await import('./tool')).TOOL_USAGE}\n`);
        return 0;
      }
      return (await import('./tool')).runTool(rest);
    case 'build':
      return (await import('../build/command')).runBuildCommand(rest);
    case 'build-worker':
      // Internal: one build job of the daemon (spliced-build@.service, or a child process), job on stdin.
      return (await import('./build-worker')).runBuildWorker();
    case 'reboot-flag':
      // Internal: spliced-reboot-flag.service's edit of /run/reboot-required(.pkgs), asked for by the daemon.
      return (await import('./reboot-flag')).runRebootFlagEdit(rest);
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`spliced: unknown mode "${mode}"\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`spliced: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
