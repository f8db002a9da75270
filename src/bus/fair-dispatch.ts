// Fair dispatch of incoming method calls (docs/dbus.md, "Fair dispatch"). spliced serves its one bus connection on
// one thread; served in arrival order, one user's pipelined calls would make everyone else's wait behind all of them.
// So every method call (the Manager's, Job objects', Properties, Introspectable, Peer) waits in a FairQueue under its
// caller, the uid the bus daemon reports for the sending connection, and calls are handed to dbus-next one at a
// time, round-robin across uids, with a turn of the event loop between two (replies and new calls get through).
// A user opening many connections still gets one turn per round; root's calls are never behind more than one call of
// each other user. Replies, errors and signals are not queued.

import { Message, MessageType, type MessageBus } from 'dbus-next';
import { DBUS_ERROR_PREFIX } from '../errors';
import { connectionUid } from './caller';
import { closeQuietly, errorReply, interceptMessages } from './dbus-next-gaps';
import { FairQueue, type QueueBounds } from './fair-queue';

export interface FairDispatch {
  /** The uid behind a unique bus name, asked of the bus once per connection (forgotten when it disconnects). */
  uidOf(sender: string): Promise<number>;
  /** Serve nothing more; calls still waiting are dropped unanswered (the connection is going away). */
  stop(): void;
}

export interface FairDispatchOptions {
  bounds: QueueBounds;
  /** The descriptor a received call holds open for its handler (ApplyFd's): closed when the call is not served. */
  heldFd(msg: Message): number | undefined;
}

interface Call {
  msg: Message;
  bytes: number;
}

const BUS_DRIVER = 'org.freedesktop.DBus';
const BUS_DRIVER_PATH = '/org/freedesktop/DBus';
const NO_REPLY_EXPECTED = 0x1;
/** A connection that went away: the bus tells everyone who listens (its unique name, its new owner ''). */
const CONNECTION_GONE_RULE = `type='signal',sender='${BUS_DRIVER}',path='${BUS_DRIVER_PATH}',interface='${BUS_DRIVER}',member='NameOwnerChanged',arg2=''`;
/** What a message costs beyond its arguments (fixed header, serial, padding), roughly. */
const HEADER_BYTES = 64;

/**
 * Queue every method call `bus` receives from now on under its caller and serve them fairly. Resolves once the bus
 * tells spliced about connections that go away (their waiting calls are dropped then); install before exporting.
 */
export async function dispatchFairly(bus: MessageBus, options: FairDispatchOptions): Promise<FairDispatch> {
  const { bounds } = options;
  const queue = new FairQueue<number, Call>(bounds);
  // Calls of connections whose uid the bus has not told yet, bounded per connection the same way.
  const unplaced = new FairQueue<string, Call>(bounds);
  const uids = new Map<string, number>();
  const asking = new Map<string, Promise<number>>();
  let scheduled: NodeJS.Immediate | null = null;
  let stopped = false;

  const drop = (call: Call) => {
    const fd = options.heldFd(call.msg);
    if (fd !== undefined) closeQuietly(fd);
  };
  const refuse = (call: Call, kind: string, text: string) => {
    drop(call);
    if (!(call.msg.flags & NO_REPLY_EXPECTED)) bus.send(errorReply(call.msg, DBUS_ERROR_PREFIX + kind, text));
  };
  const overLimit = (call: Call, who: string) =>
    refuse(
      call,
      'LimitExceeded',
      `${who} has as many calls waiting for spliced as it may (at most ${bounds.maxItems}, ` +
        `${bounds.maxBytes} bytes of arguments); wait for their answers before sending more`,
    );

  const serveNext = () => {
    scheduled = null;
    const call = queue.next();
    if (call) deliver(call.msg);
    schedule();
  };
  const schedule = () => {
    // setImmediate, not a microtask: I/O (our replies out, new calls in) runs between two calls.
    if (scheduled === null && !stopped && queue.size > 0) scheduled = setImmediate(serveNext);
  };

  const place = (sender: string, uid: number, call: Call) => {
    if (queue.add(uid, sender, call, call.bytes)) schedule();
    else overLimit(call, `uid ${uid}`);
  };

  const ask = (sender: string): Promise<number> => {
    const asked = connectionUid(bus, sender);
    asking.set(sender, asked);
    asked.then(
      (uid) => {
        if (asking.get(sender) !== asked) return; // gone meanwhile: its calls were dropped
        asking.delete(sender);
        uids.set(sender, uid);
        for (const call of unplaced.removeConnection(sender)) place(sender, uid, call);
      },
      (err: unknown) => {
        if (asking.get(sender) !== asked) return;
        asking.delete(sender);
        const reason = err instanceof Error ? err.message : String(err);
        for (const call of unplaced.removeConnection(sender)) {
          refuse(call, 'Internal', `spliced could not learn which user ${sender} is: ${reason}`);
        }
      },
    );
    return asked;
  };
  const uidOf = (sender: string): Promise<number> => {
    const uid = uids.get(sender);
    if (uid !== undefined) return Promise.resolve(uid);
    return asking.get(sender) ?? ask(sender);
  };

  const receive = (msg: Message) => {
    if (msg.type !== MessageType.METHOD_CALL) {
      if (isConnectionGone(msg)) forget(msg.body[0] as string);
      deliver(msg);
      return;
    }
    const call = { msg, bytes: estimateBytes(msg, bounds.maxBytes) };
    if (stopped) return drop(call);
    const sender = msg.sender ?? '';
    const uid = uids.get(sender);
    if (uid !== undefined) return place(sender, uid, call);
    // Its uid not told yet: the call waits for the bus's answer (asked once per connection), in order.
    if (!unplaced.add(sender, sender, call, call.bytes)) return overLimit(call, `connection ${sender}`);
    if (!asking.has(sender)) ask(sender);
  };

  const forget = (sender: string) => {
    uids.delete(sender);
    asking.delete(sender);
    for (const call of unplaced.removeConnection(sender)) drop(call);
    for (const call of queue.removeConnection(sender)) drop(call);
  };

  const deliver = interceptMessages(bus, receive);
  await bus.call(
    new Message({
      destination: BUS_DRIVER,
      path: BUS_DRIVER_PATH,
      interface: BUS_DRIVER,
      member: 'AddMatch',
      signature: 's',
      body: [CONNECTION_GONE_RULE],
    }),
  );

  return {
    uidOf,
    stop: () => {
      stopped = true;
      if (scheduled !== null) clearImmediate(scheduled);
      scheduled = null;
      for (const call of [...unplaced.clear(), ...queue.clear()]) drop(call);
    },
  };
}

/** The bus driver's word that a connection went away (only the bus can send as org.freedesktop.DBus). */
function isConnectionGone(msg: Message): boolean {
  return (
    msg.type === MessageType.SIGNAL &&
    msg.sender === BUS_DRIVER &&
    msg.path === BUS_DRIVER_PATH &&
    msg.interface === BUS_DRIVER &&
    msg.member === 'NameOwnerChanged' &&
    typeof msg.body[0] === 'string' &&
    msg.body[0].startsWith(':') &&
    msg.body[2] === ''
  );
}

/**
 * What a received call holds in memory, roughly: its header's names and its arguments (strings, byte arrays, 8 per
 * other value). Counting stops past `limit`, so a huge call costs no more to weigh than one at the bound.
 */
export function estimateBytes(msg: Message, limit: number): number {
  let bytes = HEADER_BYTES;
  for (const field of [msg.path, msg.interface, msg.member, msg.signature, msg.sender, msg.destination]) {
    bytes += field?.length ?? 0;
  }
  const pending: unknown[] = [msg.body];
  while (pending.length > 0 && bytes <= limit) {
    const value = pending.pop();
    if (typeof value === 'string') bytes += value.length;
    else if (Buffer.isBuffer(value)) bytes += value.length;
    else if (value !== null && typeof value === 'object') {
      // Arrays, structs, dicts and Variants ({signature, value}) alike: each member counted as it is reached.
      for (const [key, member] of Object.entries(value)) {
        bytes += 8 + key.length;
        pending.push(member);
        if (bytes > limit) break;
      }
    } else bytes += 8;
  }
  return bytes;
}
