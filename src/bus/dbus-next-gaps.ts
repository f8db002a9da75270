// What dbus-next 0.10.2 does at run time but its types.d.ts does not declare.

import type { EventEmitter } from 'node:events';
import { Message, MessageType, type MessageBus } from 'dbus-next';
import { DBUS_ERROR_PREFIX, SplicedError } from '../errors';

interface UntypedBus {
  name: string | null;
  unexport(path: string): void;
  _connection: EventEmitter;
}

/** Drop every interface of the object at `path` (with an interface argument, 0.10.2 never drops the object). */
export function unexportObject(bus: MessageBus, path: string): void {
  (bus as unknown as UntypedBus).unexport(path);
}

/** The connection's unique name (":1.42"), known once connected. */
export function uniqueNameOf(bus: MessageBus): string {
  return (bus as unknown as UntypedBus).name ?? '';
}

/**
 * Call `onLost` (once) when the connection breaks: the bus closing it, or an error on it. Without a listener,
 * dbus-next's 'error' event would end the process with a stack trace; and after the bus closes, calls never return.
 */
export function onConnectionLost(bus: MessageBus, onLost: (error: SplicedError) => void): () => void {
  let reported = false;
  const report = (reason: string) => {
    if (reported) return;
    reported = true;
    onLost(new SplicedError('Unavailable', `lost the D-Bus connection: ${reason}`));
  };
  bus.on('error', (err: unknown) => report(err instanceof Error ? err.message : String(err)));
  (bus as unknown as UntypedBus)._connection.on('end', () => report('the bus closed it'));
  // Disarm before disconnecting on purpose.
  return () => {
    reported = true;
  };
}

/** An error reply to `call` (types.d.ts declares the first argument of Message.newError as a string). */
export function errorReply(call: Message, name: string, text: string): Message {
  const newError = Message.newError as unknown as (call: Message, name: string, text: string) => Message;
  return newError(call, name, text);
}

/**
 * Make bus.send never throw. dbus-next encodes a message only when sending it, and a value it cannot encode (a null
 * where a string belongs) would throw: into dbus-next, which replies to the caller with a stack trace, or into the
 * engine, whose event emission sends our signals. A reply that cannot be encoded becomes an Internal error reply;
 * every such failure goes to `report`.
 */
export function guardSend(bus: MessageBus, report: (error: SplicedError, msg: Message) => void): void {
  const send = bus.send.bind(bus);
  bus.send = (msg: Message) => {
    try {
      send(msg);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const what = msg.type === MessageType.SIGNAL ? `signal ${msg.member}` : 'a reply';
      const error = new SplicedError('Internal', `spliced could not encode ${what}: ${reason}`);
      report(error, msg);
      if (msg.type === MessageType.METHOD_RETURN) {
        send(
          new Message({
            type: MessageType.ERROR,
            replySerial: msg.replySerial,
            destination: msg.destination,
            errorName: DBUS_ERROR_PREFIX + error.kind,
            signature: 's',
            body: [error.message],
          }),
        );
      }
    }
  };
}
