// `splicectl monitor [--json] [--notify]`: prints spliced's events as they happen, one line (or JSON object) each,
// and with --notify posts them on the desktop, until SIGINT or SIGTERM (docs/cli.md, "monitor").

import type { Invocation } from '../args';
import { showText } from '../commands';
import { EXIT } from '../exit-codes';
import { patchDetails } from '../records';
import { DesktopNotifier, sessionBusAddress } from './desktop';
import type { MonitorEvent } from './events';
import { eventJson, eventLine } from './render';
import { SplicedWatch } from './watch';

/** How long the notification server may take to answer (a hung one must not hold up the events after). */
const NOTIFICATION_SERVER_TIMEOUT_MS = 5000;

export interface MonitorIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Resolves when the monitor is to stop (SIGINT, SIGTERM). */
  stopped: Promise<void>;
}

export async function runMonitor(inv: Invocation, io: MonitorIo): Promise<number> {
  const warn = (message: string) => io.stderr.write(`splicectl monitor: ${message}\n`);
  let watch: SplicedWatch | undefined;
  const details = async (e: MonitorEvent): Promise<string | null> => {
    if (!('id' in e) || !e.id || watch === undefined) return null;
    return showText(patchDetails(await watch.getPatch(e.id)));
  };
  const desktop = inv.notify
    ? await DesktopNotifier.connect({ address: sessionBusAddress(io.env), timeoutMs: NOTIFICATION_SERVER_TIMEOUT_MS, warn, details })
    : null;
  watch = new SplicedWatch({
    address: inv.busAddress,
    warn,
    onEvent: (e) => {
      io.stdout.write(`${inv.json ? eventJson(e) : eventLine(e)}\n`);
      desktop?.post(e);
    },
  });
  try {
    await watch.start();
  } catch (err) {
    desktop?.close();
    throw err;
  }
  warn(`watching spliced on ${inv.busAddress ?? 'the system bus'}${desktop ? '; posting desktop notifications' : ''}`);
  await io.stopped;
  watch.stop();
  desktop?.close();
  return EXIT.ok;
}
