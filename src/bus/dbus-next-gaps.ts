// What dbus-next 0.10.2 does at run time but its types.d.ts does not declare.

import type { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { Message, MessageType, type MessageBus } from 'dbus-next';
import { DBUS_ERROR_PREFIX, SplicedError } from '../errors';

interface UntypedBus {
  name: string | null;
  unexport(path: string): void;
  _connection: EventEmitter & { stream: ReceivingStream };
}

/** usocket's USocket (what dbus-next reads a path socket with): descriptors received so far wait in `_wrap.fds`. */
interface ReceivingStream {
  read(size?: number, fdCount?: number | null): Buffer | { data: Buffer | null; fds: number[] } | null;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  _wrap?: { fds: number[] } | null;
}

/** The header fields of a received message that decide whether a handler will take ownership of its descriptors. */
export interface ReceivedMessage {
  type: number;
  path?: string;
  interface?: string;
  member?: string;
  signature?: string;
}

// dbus-next's own reader of the variable part of a message header (not declared in its types).
const DBusBuffer = require('dbus-next/lib/dbus-buffer') as new (
  buffer: Buffer,
  start: number,
  endian: number,
  fds: number[],
  options: object,
) => { readArray(type: unknown, size: number): [number, [unknown, [unknown]]][] };
const HEADER_FIELDS_TYPE = (require('dbus-next/lib/header-signature.json') as [{ child: [unknown] }])[0].child[0];

const HEADER_FIELD_NAMES: Record<number, keyof ReceivedMessage | 'unixFds' | 'sender'> = {
  1: 'path',
  2: 'interface',
  3: 'member',
  7: 'sender',
  8: 'signature',
  9: 'unixFds',
};
const NO_REPLY_EXPECTED = 0x1;
const LITTLE_ENDIAN = 'l'.charCodeAt(0);
const FIXED_HEADER_BYTES = 16;

/**
 * Descriptors passed with messages, accounted for per message. dbus-next 0.10.2 hands every descriptor queued at read
 * time to the message being read (a second fd-carrying message read in the same chunk then throws "No FDs available"
 * outside any handler, which ends the process), and never closes any (a loop of fd-carrying calls exhausts the
 * process's descriptors). So each message gets exactly the descriptors its UNIX_FDS header field counts; the one its
 * body names first is left open when `keeps(message)` says its handler takes ownership of it (and closes it), every
 * other is closed at once. The body still reads the numbers of closed descriptors; nothing uses them.
 * And dbus-next reads a message's body in the socket's 'readable' listener, where nothing catches: an 'h' whose index
 * names a descriptor the message does not carry (dbus-daemon checks the count, not the indexes) threw "No FDs
 * available" there and ended the process, on one call from anyone. So a message whose body cannot be read is dropped,
 * a method call answered InvalidArgs, and reading goes on with the next message (see guardReader).
 * Install before the connection's handshake ends (connectBus does).
 */
export function assignFdsPerMessage(bus: MessageBus, keeps: (message: ReceivedMessage) => boolean): void {
  const stream = (bus as unknown as UntypedBus)._connection.stream;
  if (!('_wrap' in stream)) return; // a plain socket: no descriptors can arrive
  const read = stream.read;
  let fixedHeader: Buffer | null = null;
  let lastRead: ParsedHeader | null = null;
  guardReader(stream, () => {
    const header = lastRead;
    lastRead = null;
    return header;
  }, (header, reason) => refuseUnreadable(bus, header, reason));
  stream.read = function (this: ReceivingStream, size?: number, fdCount?: number | null) {
    // dbus-next reads a message as read(16), the fixed header, then read(rest, null): the rest with "all" descriptors.
    if (fdCount !== null) {
      const chunk = read.apply(this, arguments as unknown as [number?, number?]);
      if (size === FIXED_HEADER_BYTES && Buffer.isBuffer(chunk)) fixedHeader = chunk;
      return chunk;
    }
    const chunk = read.call(this, size, 0) as { data: Buffer | null; fds: number[] } | null;
    if (!chunk?.data || !fixedHeader || !this._wrap) return chunk;
    const header = parseHeader(fixedHeader, chunk.data);
    lastRead = header;
    const fds = this._wrap.fds.splice(0, header.unixFds);
    const kept = header.unixFds > 0 && keeps(header) ? firstBodyFd(fixedHeader[0], chunk.data, header, fds) : undefined;
    for (const fd of fds) if (fd !== kept) closeQuietly(fd);
    return { data: chunk.data, fds };
  };
}

interface ParsedHeader extends ReceivedMessage {
  unixFds: number;
  /** Where the body starts in the bytes after the fixed header (the fields are padded to 8). */
  bodyStart: number;
  flags: number;
  serial: number;
  sender?: string;
}

function parseHeader(fixedHeader: Buffer, rest: Buffer): ParsedHeader {
  const endian = fixedHeader[0];
  const uint32 = (at: number) => (endian === LITTLE_ENDIAN ? fixedHeader.readUInt32LE(at) : fixedHeader.readUInt32BE(at));
  const fieldsLength = uint32(12);
  const header: ParsedHeader = {
    type: fixedHeader[1],
    flags: fixedHeader[2],
    serial: uint32(8),
    unixFds: 0,
    bodyStart: Math.ceil(fieldsLength / 8) * 8,
  };
  try {
    const fields = new DBusBuffer(rest, 0, endian, [], {}).readArray(HEADER_FIELDS_TYPE, fieldsLength);
    for (const [code, [, [value]]] of fields) {
      const name = HEADER_FIELD_NAMES[code];
      if (name !== undefined) Object.assign(header, { [name]: value });
    }
  } catch {
    // dbus-next's own parse of the same bytes reports it. Its descriptors are unknown: all queued ones are taken (as
    // dbus-next would) and, the header unknown, none is kept.
    header.unixFds = Number.POSITIVE_INFINITY;
  }
  return header;
}

/**
 * Deliver the socket's 'readable' events so that an exception while dbus-next's listener reads one message does not
 * leave it: `taken()` says which message was being read (null: none since the last call), `refuse` is told, and the
 * event is delivered again for the messages still buffered (the parser had consumed the failed one: it starts at the
 * next). An exception with no message read is not a message's fault and is thrown on.
 */
function guardReader(
  stream: ReceivingStream,
  taken: () => ParsedHeader | null,
  refuse: (header: ParsedHeader, reason: string) => void,
): void {
  const emit = stream.emit;
  stream.emit = function (this: ReceivingStream, event: string | symbol, ...args: unknown[]) {
    if (event !== 'readable') return emit.call(this, event, ...args);
    taken();
    for (;;) {
      try {
        return emit.call(this, event, ...args);
      } catch (err) {
        const header = taken();
        if (header === null) throw err;
        refuse(header, err instanceof Error ? err.message : String(err));
      }
    }
  };
}

/** The answer to a method call whose body dbus-next could not read; other messages are dropped without a word. */
function refuseUnreadable(bus: MessageBus, header: ParsedHeader, reason: string): void {
  if (header.type !== MessageType.METHOD_CALL || header.flags & NO_REPLY_EXPECTED || !header.sender) return;
  const why = /No FDs available/.test(reason)
    ? 'a descriptor argument names a descriptor the message does not carry'
    : `the arguments cannot be read (${reason})`;
  // newError reads only the call's serial and sender.
  bus.send(errorReply({ serial: header.serial, sender: header.sender } as Message, 'org.freedesktop.DBus.Error.InvalidArgs', why));
}

/** The descriptor the body's first argument names, for a body that starts with an 'h'. */
function firstBodyFd(endian: number, rest: Buffer, header: ParsedHeader, fds: number[]): number | undefined {
  const { bodyStart } = header;
  if (!header.signature?.startsWith('h') || rest.length < bodyStart + 4) return undefined;
  const index = endian === LITTLE_ENDIAN ? rest.readUInt32LE(bodyStart) : rest.readUInt32BE(bodyStart);
  return fds[index];
}

/** Close a received descriptor; none (fd passing not negotiated) or an already closed one is no fault. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed, or never received: nothing to account for.
  }
}

/**
 * Put `receive` between the connection and dbus-next: every message read goes to `receive`, which hands it to
 * dbus-next's own handling (method replies, signals, calls to exported objects) with the function returned, now or
 * later.
 */
export function interceptMessages(bus: MessageBus, receive: (msg: Message) => void): (msg: Message) => void {
  const connection = (bus as unknown as UntypedBus)._connection;
  const dbusNext = connection.listeners('message') as ((msg: Message) => void)[];
  connection.removeAllListeners('message');
  connection.on('message', receive);
  return (msg) => {
    for (const handle of dbusNext) handle(msg);
  };
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
