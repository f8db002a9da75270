// What dbus-next 0.10.2 does at run time but its types.d.ts does not declare.

import type { MessageBus } from 'dbus-next';

interface UntypedBus {
  name: string | null;
  unexport(path: string): void;
}

/** Drop every interface of the object at `path` (with an interface argument, 0.10.2 never drops the object). */
export function unexportObject(bus: MessageBus, path: string): void {
  (bus as unknown as UntypedBus).unexport(path);
}

/** The connection's unique name (":1.42"), known once connected. */
export function uniqueNameOf(bus: MessageBus): string {
  return (bus as unknown as UntypedBus).name ?? '';
}
