// `spliced` as the systemd service: reapply the recorded stack, take the bus name, then READY=1; heartbeats for the
// crash guard, watchdog pings, STATUS= lines; on SIGTERM/SIGINT stop cleanly. Stopping never unloads patches.

import type pino from 'pino';
import { startBus, type BusHandle } from '../bus';
import { asSplicedError } from '../errors';
import { composeEngine } from './compose';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { statusLine, systemdNotifier } from './notify';
import type { StopRequest } from './signals';

/** `stop` is caught by main.ts before this module loads. */
export async function runDaemon(stop: StopRequest): Promise<number> {
  let log: pino.Logger | null = null;
  try {
    const config = loadConfig();
    log = createLogger(config.logLevel);
    for (const warning of config.warnings) log.warn({ config: config.file }, warning);
    return await serve(config, log, stop);
  } catch (err) {
    const error = asSplicedError(err);
    if (log) log.fatal({ kind: error.kind, details: error.details }, error.message);
    else process.stderr.write(`<2>spliced: ${error.message}\n`);
    return 1;
  }
}

async function serve(config: ReturnType<typeof loadConfig>, log: pino.Logger, stop: StopRequest): Promise<number> {
  const notify = systemdNotifier();
  const watchdogMs = notify.startWatchdog();
  notify.status('starting: reconciling and reapplying the recorded stack');
  log.info({ config: config.file ?? 'built-in defaults', stateDir: config.stateDir, bus: config.bus, watchdogMs }, 'starting');

  const composed = await composeEngine(config, log);
  const { engine } = composed;
  engine.on('status-changed', (status) => notify.status(statusLine(status)));

  const started = Date.now();
  try {
    const report = await engine.start();
    log.info(
      {
        event: 'boot-reapply',
        reapplied: report.reapplied,
        alreadyLoaded: report.alreadyLoaded,
        held: report.held,
        notLoaded: Object.fromEntries(report.notLoaded),
        reconciled: report.reconciled.map((r) => ({ patch: r.patchId, action: r.intent.action, finding: r.finding })),
        durationMs: Date.now() - started,
      },
      `start-up done: ${report.reapplied.length} reapplied, ${report.alreadyLoaded.length} already loaded, ` +
        `${report.notLoaded.size} not loaded`,
    );
  } catch (err) {
    // The API must still answer (and say what is wrong), so a failed reapply does not stop the daemon.
    const error = asSplicedError(err);
    log.error({ event: 'boot-reapply', kind: error.kind, details: error.details }, `start-up failed: ${error.message}`);
  }

  let bus: BusHandle | null = null;
  let heartbeat: NodeJS.Timeout | undefined;
  // Stopped during start-up: the start-up has finished (no half-applied stack); go straight to the clean stop.
  if (stop.received() === null) {
    if (config.bus !== 'none') {
      bus = await startBus(engine, config.bus === 'system' ? {} : { address: config.bus });
      log.info({ uniqueName: bus.uniqueName }, 'org.spliced.Spliced1 acquired');
    }
    heartbeat = setInterval(() => engine.heartbeat(), config.heartbeatSeconds * 1000);
    engine.heartbeat();
    notify.ready();
    notify.status(statusLine(engine.status()));
    log.info({ event: 'ready', status: engine.status(), startMs: Date.now() - started }, 'ready');
  }

  const signal = await stop.signal;
  log.info({ signal }, 'stopping; applied patches stay loaded');
  notify.stopping();
  notify.status('stopping');
  clearInterval(heartbeat);
  await bus?.stop();
  await composed.close();
  notify.stopWatchdog();
  log.info({}, 'stopped cleanly');
  return 0;
}
