// The calls of the flood (test/guest/flood/): what an unprivileged client can send spliced, each with the one answer a
// correct daemon gives it. Reads, bad arguments, descriptors where none belong or that cannot be read, and the
// mutating calls polkit refuses. The answers are those of docs/dbus.md and docs/errors.md.

import { Message, Variant } from 'dbus-next';
import { BUS_NAME, MANAGER_INTERFACE, MANAGER_PATH, jobPath } from '../../../src/bus/names';

const PROPERTIES = 'org.freedesktop.DBus.Properties';
const SPLICED_ERROR = 'org.spliced.Spliced1.Error.';

/** What the client has at hand to build calls from (opened by the client, as the unprivileged user). */
export interface MixContext {
  /** A pipe (a FIFO): not a regular file. */
  pipeFd: number;
  /** A socket: not a regular file. */
  socketFd: number;
  /** An O_PATH descriptor: cannot be read. */
  pathFd: number;
  /** A regular file open for reading. */
  fileFd: number;
  /** An absolute path the client may name in Apply (the daemon must not get to open it). */
  file: string;
  /** The id of a patch spliced knows, or null when it knows none. */
  knownId: string | null;
}

export interface FloodCall {
  kind: string;
  message: Message;
  /** 'reply', or the D-Bus error name the call must end in. */
  expect: string;
  /** Sent with its "u" argument turned into a descriptor index the message does not carry (forge.ts). */
  danglingFdIndex?: true;
}

type CallMaker = (ctx: MixContext) => Omit<FloodCall, 'kind'>;

const manager = (member: string, signature: string, body: unknown[]) =>
  new Message({ destination: BUS_NAME, path: MANAGER_PATH, interface: MANAGER_INTERFACE, member, signature, body });
const properties = (member: string, signature: string, body: unknown[], path = MANAGER_PATH) =>
  new Message({ destination: BUS_NAME, path, interface: PROPERTIES, member, signature, body });

export function listMessage(): Message {
  return manager('List', '', []);
}

/** An id no patch has (12 hex digits, as ids are). */
const UNKNOWN_ID = '0123456789ab';

/**
 * Every kind of call, by name. Reads weigh most: what a busy desktop or monitoring sends is mostly List, history and
 * properties; one in five calls asks polkit.
 */
export const CALL_KINDS: Record<string, CallMaker> = {
  List: () => ({ message: listMessage(), expect: 'reply' }),
  'GetHistory page': () => ({ message: manager('GetHistory', 'su', ['', 100]), expect: 'reply' }),
  'GetHistory over the page bound': () => ({
    message: manager('GetHistory', 'su', ['', 5000]),
    expect: `${SPLICED_ERROR}InvalidArgument`,
  }),
  GetPatch: (c) => ({
    message: manager('GetPatch', 's', [c.knownId ?? UNKNOWN_ID]),
    expect: c.knownId ? 'reply' : `${SPLICED_ERROR}NoSuchPatch`,
  }),
  'GetPatch of an over-long id': () => ({ message: manager('GetPatch', 's', ['x'.repeat(4096)]), expect: `${SPLICED_ERROR}InvalidArgument` }),
  GetJobs: () => ({ message: manager('GetJobs', '', []), expect: 'reply' }),
  'Properties.GetAll': () => ({ message: properties('GetAll', 's', [MANAGER_INTERFACE]), expect: 'reply' }),
  'Properties.Get State': () => ({ message: properties('Get', 'ss', [MANAGER_INTERFACE, 'State']), expect: 'reply' }),
  'Properties.Set State': () => ({
    message: properties('Set', 'ssv', [MANAGER_INTERFACE, 'State', new Variant('s', 'idle')]),
    expect: 'org.freedesktop.DBus.Error.PropertyReadOnly',
  }),
  'Properties.Get of a job that does not exist': () => ({
    message: properties('Get', 'ss', ['org.spliced.Spliced1.Job', 'State'], jobPath(999_999)),
    expect: 'org.freedesktop.DBus.Error.InvalidArgs',
  }),
  'List carrying a descriptor': (c) => ({ message: manager('List', 'h', [c.fileFd]), expect: 'org.freedesktop.DBus.Error.UnknownMethod' }),
  'GetPatch carrying a descriptor': (c) => ({
    message: manager('GetPatch', 'sh', [UNKNOWN_ID, c.pipeFd]),
    expect: 'org.freedesktop.DBus.Error.UnknownMethod',
  }),
  'List naming a descriptor it does not carry': () => ({
    message: manager('List', 'u', [7]),
    expect: 'org.freedesktop.DBus.Error.InvalidArgs',
    danglingFdIndex: true,
  }),
  'Apply with a wrong signature': (c) => ({ message: manager('Apply', 's', [c.file]), expect: 'org.freedesktop.DBus.Error.UnknownMethod' }),
  'Apply of a relative path': () => ({ message: manager('Apply', 'sa{sv}', ['fix.ko', {}]), expect: `${SPLICED_ERROR}InvalidArgument` }),
  'Apply with an unknown option': (c) => ({
    message: manager('Apply', 'sa{sv}', [c.file, { force: new Variant('b', true) }]),
    expect: `${SPLICED_ERROR}InvalidArgument`,
  }),
  'Revert of an unknown id': () => ({ message: manager('Revert', 'sa{sv}', [UNKNOWN_ID, {}]), expect: `${SPLICED_ERROR}NoSuchPatch` }),
  // polkit says no to an unprivileged caller without a session (allow_any=no); the descriptors are closed either way.
  'Apply (polkit)': (c) => ({ message: manager('Apply', 'sa{sv}', [c.file, {}]), expect: `${SPLICED_ERROR}PermissionDenied` }),
  'ApplyFd of a pipe (polkit)': (c) => ({ message: manager('ApplyFd', 'ha{sv}', [c.pipeFd, {}]), expect: `${SPLICED_ERROR}PermissionDenied` }),
  'ApplyFd of a socket (polkit)': (c) => ({ message: manager('ApplyFd', 'ha{sv}', [c.socketFd, {}]), expect: `${SPLICED_ERROR}PermissionDenied` }),
  'ApplyFd of an O_PATH descriptor (polkit)': (c) => ({
    message: manager('ApplyFd', 'ha{sv}', [c.pathFd, {}]),
    expect: `${SPLICED_ERROR}PermissionDenied`,
  }),
  'ApplyFd of a file (polkit)': (c) => ({ message: manager('ApplyFd', 'ha{sv}', [c.fileFd, {}]), expect: `${SPLICED_ERROR}PermissionDenied` }),
  'Revert (polkit)': (c) => ({
    message: manager('Revert', 'sa{sv}', [c.knownId ?? UNKNOWN_ID, {}]),
    expect: `${SPLICED_ERROR}${c.knownId ? 'PermissionDenied' : 'NoSuchPatch'}`,
  }),
  'Refresh (polkit)': () => ({ message: manager('Refresh', 'a{sv}', [{}]), expect: `${SPLICED_ERROR}PermissionDenied` }),
};

/** The order calls are sent in, repeated: List four times as often as the rest. */
const SEQUENCE = Object.keys(CALL_KINDS).flatMap((kind) => (kind === 'List' ? [kind, kind, kind, kind] : [kind]));

/** The i-th call of a flood (deterministic: the same count sends the same calls). */
export function floodCall(i: number, ctx: MixContext): FloodCall {
  const kind = SEQUENCE[i % SEQUENCE.length];
  return { kind, ...CALL_KINDS[kind](ctx) };
}
