// Who is calling: dbus-next does not pass the message to method handlers, but runs handlers added with
// addMethodHandler first and synchronously. So the tracker remembers the message being dispatched, and a method
// handler must take it before its first `await`.

import { Message, type MessageBus } from 'dbus-next';
import { SplicedError } from '../errors';

/** Set on a method call when the caller allows polkit to ask for a password (busctl sets it by default). */
const ALLOW_INTERACTIVE_AUTHORIZATION = 0x4;

export interface Caller {
  /** Unique bus name of the caller, e.g. ":1.42". */
  sender: string;
  /** The message asked for interactive authorisation through the header flag. */
  allowsInteraction: boolean;
}

export class CallTracker {
  private current: Message | null = null;

  /** To install with bus.addMethodHandler: remembers the call, never handles it. */
  readonly handler = (msg: Message): boolean => {
    this.current = msg;
    return false;
  };

  /** The caller of the method call being dispatched right now. */
  take(): Caller {
    const msg = this.current;
    this.current = null;
    if (!msg?.sender) throw new SplicedError('Internal', 'the sender of this method call is unknown');
    return { sender: msg.sender, allowsInteraction: (msg.flags & ALLOW_INTERACTIVE_AUTHORIZATION) !== 0 };
  }
}

/** The uid the bus daemon reports for a connection (by its unique name). */
export async function connectionUid(bus: MessageBus, sender: string): Promise<number> {
  const reply = await bus.call(
    new Message({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'GetConnectionUnixUser',
      signature: 's',
      body: [sender],
    }),
  );
  const uid = reply?.body[0];
  if (typeof uid !== 'number') throw new SplicedError('Internal', `the bus did not tell the uid of ${sender}`);
  return uid;
}
