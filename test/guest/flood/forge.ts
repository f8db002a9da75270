// A method call dbus-next will not make: an 'h' (descriptor) argument whose index names a descriptor the message does
// not carry (no UNIX_FDS header, no descriptor attached). dbus-daemon checks the UNIX_FDS count, not the indexes in
// the body, so it passes such a call on. Made by marshalling the call with a 'u' in place of the 'h' (both are
// 32-bit) and rewriting the signature header field; written to the connection's socket as it is.

import { Message, type MessageBus } from 'dbus-next';

// dbus-next internals (0.10.2) this needs: its marshaller, the next serial, the reply table and the socket.
const { marshall } = require('dbus-next/lib/message') as { marshall(message: Message): [Buffer, number[]] };
interface UntypedBus {
  _serial: number;
  _methodReturnHandlers: Record<number, (reply: Message) => void>;
  _connection: { stream: { write(chunk: { data: Buffer; fds: number[] }): void } };
}

/** Header field 8 (signature), variant of type 'g', value "u". */
const SIGNATURE_U = Buffer.from([0x08, 0x01, 0x67, 0x00, 0x01, 0x75, 0x00]);
const H = 0x68;

/**
 * Send `call` (whose signature must be exactly "u") with that argument turned into a descriptor index; resolves with
 * the reply or error message, or never when none comes.
 */
export function callWithDanglingFdIndex(bus: MessageBus, call: Message): Promise<Message> {
  const untyped = bus as unknown as UntypedBus;
  if (call.signature !== 'u') throw new Error('the call to forge must have the signature "u"');
  const serial = untyped._serial++;
  call.serial = serial;
  const [data] = marshall(call);
  const at = data.indexOf(SIGNATURE_U);
  if (at < 0) throw new Error('no signature header field in the marshalled call');
  data[at + SIGNATURE_U.length - 2] = H;
  const reply = new Promise<Message>((resolve) => {
    untyped._methodReturnHandlers[serial] = resolve;
  });
  untyped._connection.stream.write({ data, fds: [] });
  return reply;
}
