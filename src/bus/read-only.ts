// Every property of spliced's objects is read-only. dbus-next 0.10.2 answers Properties.Set on a read-only property
// with an error but then still assigns, and sends a second, stack-trace reply; this handler answers first, once.

import type { Message } from 'dbus-next';
import { errorReply } from './dbus-next-gaps';
import { MANAGER_PATH } from './names';

/** To install with bus.addMethodHandler: refuses Properties.Set on our objects. */
export function refusePropertySet(bus: { send(msg: Message): void }): (msg: Message) => boolean {
  return (msg) => {
    const ours = msg.path === MANAGER_PATH || msg.path?.startsWith(`${MANAGER_PATH}/`);
    if (!ours || msg.interface !== 'org.freedesktop.DBus.Properties' || msg.member !== 'Set') return false;
    const property = typeof msg.body?.[1] === 'string' ? msg.body[1] : '?';
    bus.send(errorReply(msg, 'org.freedesktop.DBus.Error.PropertyReadOnly', `property ${property} is read-only`));
    return true;
  };
}
