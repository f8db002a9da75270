// Opening a D-Bus connection that fails with a clear error instead of hanging when the bus is not there.

import * as dbus from 'dbus-next';
import { SplicedError } from '../errors';
import { assignFdsPerMessage, type ReceivedMessage } from './dbus-next-gaps';

/**
 * Connect to the bus at `address`, or to the system bus; resolves once the bus has given us a unique name.
 * Unix fd passing is negotiated (ApplyFd); it needs a path socket, which the system bus is. A descriptor received
 * with a message is closed at once unless `keepsFd` says the message's handler takes ownership of it.
 */
export function connectBus(
  address?: string,
  keepsFd: (message: ReceivedMessage) => boolean = () => false,
): Promise<dbus.MessageBus> {
  const bus = address
    ? dbus.sessionBus({ busAddress: address, negotiateUnixFd: true } as dbus.SessionBusOptions)
    : dbus.systemBus({ negotiateUnixFd: true });
  assignFdsPerMessage(bus, keepsFd);
  const where = address ?? 'the system bus';
  return new Promise((resolve, reject) => {
    const onError = (err: unknown) => {
      bus.removeListener('connect', onConnect);
      bus.disconnect();
      const code = (err as { code?: string } | null)?.code;
      const reason =
        code === 'ENOENT' || code === 'ECONNREFUSED'
          ? 'no D-Bus daemon listens there'
          : err instanceof Error
            ? err.message
            : String(err);
      reject(new SplicedError('Unavailable', `cannot connect to ${where}: ${reason}`, { address: where }));
    };
    const onConnect = () => {
      bus.removeListener('error', onError);
      resolve(bus);
    };
    bus.once('error', onError);
    bus.once('connect', onConnect);
  });
}
