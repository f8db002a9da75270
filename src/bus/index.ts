// The D-Bus adapter of spliced: puts the engine on the bus as org.spliced.Spliced1 (docs/dbus.md).
// The daemon's composition root calls startBus before READY=1; the engine itself knows nothing of D-Bus.

import * as dbus from 'dbus-next';
import { SplicedError } from '../errors';
import type { Engine } from '../engine/types';
import { PolkitAuthority, type Authority } from './authority';
import { Authorizer } from './authorizer';
import { CallTracker } from './caller';
import { connectBus } from './connect';
import { dispatchFairly } from './fair-dispatch';
import { guardSend, onConnectionLost, uniqueNameOf, unexportObject, type ReceivedMessage } from './dbus-next-gaps';
import { JobObjects } from './job-object';
import { MAX_WAITING_BYTES_PER_CALLER, MAX_WAITING_CALLS_PER_CALLER } from './limits';
import { ManagerInterface } from './manager-object';
import { BUS_NAME, MANAGER_INTERFACE, MANAGER_PATH } from './names';
import { refusePropertySet } from './read-only';
import { DEFAULT_MAX_INPUT_BYTES } from '../sources/read-once';
import type { Feed } from '../sources/feed/feed-types';

export type { Authority, AuthorizationRequest, Verdict } from './authority';

export interface BusOptions {
  /** D-Bus address to serve on (a session or private bus); the system bus when absent. */
  address?: string;
  /** Who decides Apply/Revert; polkit on the same bus when absent. */
  authority?: Authority;
  /** Callers with uid 0 skip the authority (default true). */
  trustRoot?: boolean;
  /** How long a finished job object stays on the bus (default 60 s). */
  jobLingerMs?: number;
  /** Jobs one caller (uid) may have queued or running at once (default 4; trusted root is not limited). */
  maxQueuedJobsPerCaller?: number;
  /**
   * Called once if the bus connection breaks (the daemon should log it and exit so systemd restarts it).
   * Without it the error is thrown, which ends the process.
   */
  onConnectionLost?: (error: SplicedError) => void;
  /** Where the adapter reports its own failures (pino's logger fits); stderr when absent. */
  log?: BusLog;
  /** Largest file Apply and ApplyFd take (the max_input_size setting); its default when absent. */
  maxInputBytes?: number;
  /** The distro feed behind Refresh() and the Feed* properties; none: FeedPolicy "off", Refresh is NotApplicable. */
  feed?: Feed;
}

export interface BusLog {
  error(fields: Record<string, unknown>, message: string): void;
}

const STDERR_LOG: BusLog = {
  error: (fields, message) => process.stderr.write(`spliced bus: ${message} ${JSON.stringify(fields)}\n`),
};

export interface BusHandle {
  /** The unique name of the daemon's connection. */
  readonly uniqueName: string;
  /** Release the name, drop every object, disconnect. */
  stop(): Promise<void>;
}

const DEFAULT_JOB_LINGER_MS = 60_000;
const DEFAULT_MAX_QUEUED_JOBS_PER_CALLER = 4;

/** The one call whose handler owns a passed descriptor (ApplyFd closes it when its job ends); others are closed. */
function isApplyFdCall(message: ReceivedMessage): boolean {
  return (
    message.type === dbus.MessageType.METHOD_CALL &&
    message.path === MANAGER_PATH &&
    message.interface === MANAGER_INTERFACE &&
    message.member === 'ApplyFd' &&
    message.signature === 'ha{sv}'
  );
}

export async function startBus(engine: Engine, options: BusOptions = {}): Promise<BusHandle> {
  const bus = await connectBus(options.address, isApplyFdCall);
  const disarm = onConnectionLost(
    bus,
    options.onConnectionLost ??
      ((error) => {
        throw error;
      }),
  );
  const log = options.log ?? STDERR_LOG;
  guardSend(bus, (error, msg) =>
    log.error({ kind: error.kind, path: msg.path, member: msg.member, destination: msg.destination }, error.message),
  );
  const fair = await dispatchFairly(bus, {
    bounds: { maxItems: MAX_WAITING_CALLS_PER_CALLER, maxBytes: MAX_WAITING_BYTES_PER_CALLER },
    heldFd: (msg) => (isApplyFdCall(msg) ? (msg.body[0] as number) : undefined),
  });
  const calls = new CallTracker();
  bus.addMethodHandler(calls.handler);
  bus.addMethodHandler(refusePropertySet(bus));
  const jobs = new JobObjects(bus, options.jobLingerMs ?? DEFAULT_JOB_LINGER_MS);
  const authorizer = new Authorizer(fair.uidOf, options.authority ?? new PolkitAuthority(bus), {
    trustRoot: options.trustRoot ?? true,
    maxQueuedJobsPerCaller: options.maxQueuedJobsPerCaller ?? DEFAULT_MAX_QUEUED_JOBS_PER_CALLER,
    jobs: () => engine.jobs(),
  });
  const maxInputBytes = options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
  const manager = new ManagerInterface({ engine, jobs, calls, authorizer, maxInputBytes, feed: options.feed ?? null });
  bus.export(MANAGER_PATH, manager);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    disarm();
    fair.stop();
    manager.detach();
    jobs.stop();
    unexportObject(bus, MANAGER_PATH);
    bus.disconnect();
  };

  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE).catch((err: unknown) => err);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
    await stop();
    const why = reply instanceof Error ? reply.message : 'another process owns it';
    throw new SplicedError(
      'Internal',
      `cannot own the bus name ${BUS_NAME} (${why}); is the bus policy dbus/${BUS_NAME}.conf installed?`,
    );
  }
  return { uniqueName: uniqueNameOf(bus), stop };
}
