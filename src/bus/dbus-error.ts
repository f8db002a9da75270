// Every failure leaves the daemon as a documented org.spliced.Spliced1.Error.<Kind> (docs/errors.md): dbus-next
// would otherwise send any other exception as com.github.dbus_next.ServiceError with its stack trace.

import { DBusError } from 'dbus-next';
import { asSplicedError } from '../errors';

export function toDBusError(err: unknown): DBusError {
  if (err instanceof DBusError) return err;
  const spliced = asSplicedError(err);
  return new DBusError(spliced.dbusName, spliced.message);
}

/** Run a method body and reject with a documented D-Bus error whatever it throws. */
export async function replyOrDBusError<T>(body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toDBusError(err);
  }
}
