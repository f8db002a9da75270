#!/usr/bin/env node
// splicectl: the command-line client of spliced, over D-Bus only (docs/cli.md).

import { asSplicedError, type SplicedError } from '../errors';
import { parseCommandLine, USAGE } from './args';
import { SplicedClient } from './client';
import { RUN } from './commands';
import { EXIT, EXIT_BY_KIND } from './exit-codes';
import { runMonitor } from './monitor/command';

let json = false;

function printError(e: SplicedError): number {
  process.stderr.write(`splicectl: ${e.message} (${e.kind})\n`);
  if (json) {
    const error = { kind: e.kind, name: e.dbusName, message: e.message, ...e.details };
    process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
  }
  return EXIT_BY_KIND[e.kind];
}

async function main(argv: string[]): Promise<number> {
  json = argv.includes('--json');
  let client: SplicedClient | undefined;
  try {
    const inv = parseCommandLine(argv, process.env);
    json = inv.json;
    if (inv.command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return EXIT.ok;
    }
    if (inv.command === 'monitor') {
      // Runs until stopped, reconnecting on its own: a broken connection is no reason to end.
      const stopped = new Promise<void>((resolve) => ['SIGINT', 'SIGTERM'].forEach((s) => process.once(s, resolve)));
      // A reader that went away (`splicectl monitor | head -1`) ends the monitor too.
      process.stdout.on('error', () => process.exit(EXIT.ok));
      return await runMonitor(inv, { stdout: process.stdout, stderr: process.stderr, env: process.env, stopped });
    }
    // A broken connection would leave calls waiting forever: report it and stop.
    client = await SplicedClient.connect(inv.busAddress, (lost) => process.exit(printError(lost)));
    const outcome = await RUN[inv.command](client, inv, {
      stderr: process.stderr,
      stdinIsTTY: process.stdin.isTTY === true,
      isRoot: process.getuid?.() === 0,
      cwd: process.cwd(),
    });
    process.stdout.write(json ? `${JSON.stringify(outcome.json, null, 2)}\n` : `${outcome.text}\n`);
    return outcome.exit;
  } catch (err) {
    return printError(asSplicedError(err));
  } finally {
    client?.close();
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
