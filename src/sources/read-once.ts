// Every file that enters spliced (the drop directory, Apply, ApplyFd, `spliced tool apply`) is read here: once, from
// one descriptor, after fstat on that same descriptor says it is a regular file within the size cap. What was read
// is all spliced uses afterwards; the name is never opened again (docs/architecture.md, "the door reads once").

import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { SplicedError } from '../errors';

/** Default of the max_input_size setting: livepatch modules and source patches are kilobytes to a few megabytes. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** The file a descriptor was open on, as fstat saw it: a name still holds it when lstat sees the same. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export interface ReadOnce {
  content: Buffer;
  identity: FileIdentity;
}

export interface ReadRules {
  maxBytes: number;
  /** Refuse a symbolic link at the name instead of following it. */
  noFollow?: boolean;
  /** Owned by root and writable by no one else: whoever can write the file decides what gets loaded. */
  rootOwned?: boolean;
}

const fstat = promisify(fs.fstat);
const read = promisify(fs.read);
const open = promisify(fs.open);
const close = promisify(fs.close);

// O_NONBLOCK: opening a FIFO or a device never waits (what it is shows in fstat, before any read).
// libuv adds O_CLOEXEC to every open.
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

export function identityOf(stat: fs.Stats): FileIdentity {
  return { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** Opens `file` once and reads it from that descriptor. I/O failures are UnreadableModule with details.code. */
export async function readNamedFile(file: string, rules: ReadRules): Promise<ReadOnce> {
  let fd: number;
  try {
    fd = await open(file, OPEN_FLAGS | (rules.noFollow ? fs.constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' && rules.noFollow) {
      throw new SplicedError('InvalidArgument', `${file} is a symbolic link; spliced does not follow it here`, { path: file });
    }
    // open(2) of a socket (or of a device without a driver) is ENXIO: what it is, not an I/O failure.
    const stat = code === 'ENXIO' ? fs.lstatSync(file, { throwIfNoEntry: false }) : undefined;
    if (stat && !stat.isFile()) throw new SplicedError('InvalidArgument', `${file} is not a regular file (${kindOf(stat)})`, { path: file });
    throw unreadable(file, err);
  }
  try {
    return await readDescriptor(fd, file, rules);
  } finally {
    await close(fd);
  }
}

/** Reads the file behind a descriptor a caller passed (from offset 0, whatever its position); the caller closes it. */
export function readReceivedFd(fd: number, maxBytes: number): Promise<ReadOnce> {
  return readDescriptor(fd, describeFd(fd), { maxBytes });
}

/** What a passed descriptor points at, for messages only. */
export function describeFd(fd: number): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `file descriptor ${fd}`;
  }
}

async function readDescriptor(fd: number, name: string, rules: ReadRules): Promise<ReadOnce> {
  let stat: fs.Stats;
  try {
    stat = await fstat(fd);
  } catch (err) {
    throw unreadable(name, err);
  }
  if (!stat.isFile()) {
    throw new SplicedError('InvalidArgument', `${name} is not a regular file (${kindOf(stat)})`, { path: name });
  }
  if (rules.rootOwned && stat.uid !== 0) {
    throw new SplicedError('InvalidArgument', `${name} is owned by uid ${stat.uid}, not root`, { path: name, uid: stat.uid });
  }
  if (rules.rootOwned && (stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
    throw new SplicedError('InvalidArgument', `${name} is writable by group or others (mode ${mode})`, { path: name, mode });
  }
  const content = await readBounded(fd, name, stat.size, rules.maxBytes);
  return { content, identity: identityOf(stat) };
}

/** At most `maxBytes`; one byte more than fstat's size is asked for, so a file that grew meanwhile shows. */
async function readBounded(fd: number, name: string, size: number, maxBytes: number): Promise<Buffer> {
  if (size > maxBytes) throw tooLarge(name, size, maxBytes);
  const buffer = Buffer.alloc(size + 1);
  let length = 0;
  while (length < buffer.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await read(fd, buffer, length, buffer.length - length, length));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EBADF') {
        // An O_PATH or write-only descriptor: fstat works on it, reading does not.
        throw new SplicedError('InvalidArgument', `the descriptor of ${name} is not open for reading`, { path: name });
      }
      throw unreadable(name, err);
    }
    if (n === 0) break;
    length += n;
  }
  if (length > size) {
    throw new SplicedError('InvalidArgument', `${name} grew while it was read; write it elsewhere, then move it in`, {
      path: name,
    });
  }
  return buffer.subarray(0, length);
}

function tooLarge(name: string, size: number, maxBytes: number): SplicedError {
  return new SplicedError('InvalidArgument', `${name} is ${size} bytes; at most ${maxBytes} are taken (max_input_size)`, {
    path: name,
    size,
    maxBytes,
  });
}

function unreadable(name: string, err: unknown): SplicedError {
  const code = (err as NodeJS.ErrnoException).code;
  return new SplicedError('UnreadableModule', `cannot read ${name}: ${(err as Error).message}`, { path: name, code });
}

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a plain file';
}
