// `spliced` as the systemd service: reapply the recorded stack, take the bus name, then READY=1; heartbeats for the
// crash guard, watchdog pings, STATUS= lines. Whatever ends a session (a signal, a lost bus, a failure), it ends in
// order: the running job finishes and a clean stop is recorded, so the next boot's crash guard only ever sees real
// crashes. Stopping never unloads patches.

import * as path from 'node:path';
import type pino from 'pino';
import { startBus, type BusHandle } from '../bus';
import type { SplicedEngine } from '../engine';
import { asSplicedError, SplicedError } from '../errors';
import { DropDir } from '../sources/drop-dir';
import { composeEngine } from './compose';
import { loadConfig, type Config } from './config';
import { composeFeed, type RunningFeed } from './feed';
import { startRebootFlag } from './reboot-flag';
import { installLastResort } from './last-resort';
import { createLogger } from './logger';
import { statusLine, systemdNotifier, type Notifier } from './notify';
import type { StopRequest } from './signals';

/** `stop` is caught by main.ts before this module loads. */
export async function runDaemon(stop: StopRequest): Promise<number> {
  let log: pino.Logger | null = null;
  const notify = systemdNotifier();
  const running: Running = { engine: null };
  installLastResort({ log: () => log, notify, markFailed: (reason) => running.engine?.markFailed(reason) });
  try {
    const config = loadConfig();
    log = createLogger(config.logLevel);
    for (const warning of config.warnings) log.warn({ config: config.file }, warning);
    return await serve(config, log, stop, notify, running);
  } catch (err) {
    // Nothing to serve (no configuration, no state dir, no database): systemd restarts it, STATUS= says why.
    const error = asSplicedError(err);
    if (log) log.fatal({ kind: error.kind, details: error.details }, error.message);
    else process.stderr.write(`<2>spliced: ${error.message}\n`);
    notify.status(`failed: ${error.message}`);
    return 1;
  }
}

/** The engine once composed, for the last resort to mark failed. */
interface Running {
  engine: SplicedEngine | null;
}

async function serve(config: Config, log: pino.Logger, stop: StopRequest, notify: Notifier, running: Running): Promise<number> {
  const watchdogMs = notify.startWatchdog();
  notify.status('starting: reconciling and reapplying the recorded stack');
  log.info({ config: config.file ?? 'built-in defaults', stateDir: config.stateDir, bus: config.bus, watchdogMs }, 'starting');
  const started = Date.now();

  const composed = await composeEngine(config, log);
  const { engine } = composed;
  running.engine = engine;
  engine.on('status-changed', (status) => notify.status(statusLine(status)));
  let connection: BusConnection | null = null;
  let dropDir: DropDir | null = null;
  let feed: RunningFeed | null = null;
  let rebootFlag: Awaited<ReturnType<typeof startRebootFlag>> = null;
  let heartbeat: NodeJS.Timeout | undefined;
  let exitCode = 0;
  try {
    await startEngine(engine, log);
    // Also what keeps the process up while it waits (for the bus, for a stop).
    heartbeat = setInterval(() => engine.heartbeat(), config.heartbeatSeconds * 1000);
    feed = composeFeed(config, composed, log);
    // A stop during start-up comes after start-up has finished (never a half-applied stack), and skips what follows.
    if (stop.received() === null && config.bus !== 'none') connection = await connectUnlessStopped(engine, feed, config, log, stop);
    if (stop.received() === null) {
      dropDir = new DropDir({
        incoming: path.join(config.stateDir, 'incoming'),
        quarantine: path.join(config.stateDir, 'quarantine'),
        engine,
        log,
        maxBytes: config.maxInputBytes,
      });
      await dropDir.start();
      ready(engine, notify, log, started);
      await feed.start();
      rebootFlag = await startRebootFlag(config, engine, log);
    }
    const end = await Promise.race([stop.signal, connection?.lost ?? new Promise<never>(() => undefined)]);
    if (end instanceof SplicedError) {
      // e.g. dbus-daemon went away: stop (systemd restarts spliced on failure) rather than serve nobody.
      log.error({ kind: end.kind }, `${end.message}; stopping`);
      exitCode = 1;
    } else {
      log.info({ signal: end }, 'stopping; applied patches stay loaded');
    }
  } catch (err) {
    const error = asSplicedError(err);
    log.fatal({ kind: error.kind, details: error.details }, error.message);
    exitCode = 1;
  }
  notify.stopping();
  notify.status('stopping');
  clearInterval(heartbeat);
  // The drop directory takes no new file; the one in hand settles when the engine stops (a killed build, a
  // "stopping" job) and stays in the directory for the next start.
  const dropDirStopped = dropDir?.stop();
  await feed?.stop();
  await rebootFlag?.stop();
  await connection?.bus.stop().catch((err: unknown) => log.warn({}, `releasing the bus: ${asSplicedError(err).message}`));
  await composed.close();
  await dropDirStopped;
  notify.stopWatchdog();
  log.info({ exitCode }, 'stopped in order; clean stop recorded');
  return exitCode;
}

/**
 * Boot sequence. A failure is logged and shown as State `failed` and in STATUS= (the engine refuses jobs), never fatal:
 * the API still answers, so `splicectl status` can say why.
 */
async function startEngine(engine: SplicedEngine, log: pino.Logger): Promise<void> {
  const started = Date.now();
  try {
    const report = await engine.start();
    log.info(
      {
        event: 'boot-reapply',
        reapplied: report.reapplied,
        alreadyLoaded: report.alreadyLoaded,
        held: report.held,
        recovered: report.recovered,
        notLoaded: Object.fromEntries(report.notLoaded),
        reconciled: report.reconciled.map((r) => ({ patch: r.patchId, action: r.intent.action, finding: r.finding })),
        durationMs: Date.now() - started,
      },
      `start-up done: ${report.reapplied.length} reapplied, ${report.alreadyLoaded.length} already loaded, ` +
        `${report.notLoaded.size} not loaded`,
    );
  } catch (err) {
    const error = asSplicedError(err);
    log.error({ event: 'boot-reapply', kind: error.kind, details: error.details }, `start-up failed: ${error.message}`);
  }
}

/** How long taking the bus name may take before spliced gives up (and systemd restarts it). */
const BUS_TIMEOUT_MS = 60_000;

interface BusConnection {
  bus: BusHandle;
  /** Resolves if the connection breaks. */
  lost: Promise<SplicedError>;
}

/** Take the bus name; null if a stop request came first (a bus that never answers must not hold up the stop). */
async function connectUnlessStopped(
  engine: SplicedEngine,
  feed: RunningFeed,
  config: Config,
  log: pino.Logger,
  stop: StopRequest,
): Promise<BusConnection | null> {
  let onConnectionLost!: (error: SplicedError) => void;
  const lost = new Promise<SplicedError>((resolve) => (onConnectionLost = resolve));
  const starting = startBus(engine, {
    ...(config.bus === 'system' ? {} : { address: config.bus }),
    log,
    onConnectionLost,
    maxInputBytes: config.maxInputBytes,
    maxQueuedJobsPerCaller: config.maxQueuedJobsPerCaller,
    feed: feed.feed,
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SplicedError('Unavailable', `the D-Bus daemon did not answer within ${BUS_TIMEOUT_MS / 1000} s`)),
      BUS_TIMEOUT_MS,
    );
  });
  const first = await Promise.race([starting, stop.signal, timeout]).finally(() => clearTimeout(timer));
  if (typeof first === 'string') {
    void starting.then((late) => late.stop()).catch(() => undefined);
    return null;
  }
  log.info({ uniqueName: first.uniqueName }, 'org.spliced.Spliced1 acquired');
  return { bus: first, lost };
}

function ready(engine: SplicedEngine, notify: Notifier, log: pino.Logger, started: number): void {
  engine.heartbeat();
  notify.ready();
  notify.status(statusLine(engine.status()));
  log.info({ event: 'ready', status: engine.status(), startMs: Date.now() - started }, 'ready');
}
