// A streaming reader of tar archives (GNU and POSIX ustar, GNU long names, pax path headers): each member is
// offered to a visitor, which may take its bytes as they stream past. The kernel source tarball is 1.4 GB
// unpacked: hashing or picking members this way needs no disk and no second copy of the tree.

export type TarMemberType = 'file' | 'directory' | 'symlink' | 'other';

export interface TarMember {
  path: string;
  type: TarMemberType;
  size: number;
  /** A symlink's target ("" for other members). */
  linkTarget: string;
}

/** Receives a member's bytes in order (the chunks are not reused by the reader), then the end of the member. */
export interface MemberSink {
  write(chunk: Buffer): void;
  end(): void;
}

const BLOCK = 512;

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
}

function numberField(block: Buffer, start: number, length: number): number {
  // GNU base-256 for values too large for octal: high bit of the first byte set.
  if (block[start] & 0x80) {
    let value = block[start] & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i];
    return value;
  }
  const text = cString(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

const TYPES: Record<string, TarMemberType> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '2': 'symlink' };

/** Records of a pax extended header ("27 path=some/long/name\n"). */
function paxRecords(text: string): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < text.length) {
    const space = text.indexOf(' ', at);
    const length = Number.parseInt(text.slice(at, space), 10);
    if (!(length > 0)) break;
    const record = text.slice(space + 1, at + length - 1);
    const eq = record.indexOf('=');
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

/**
 * Reads a tar stream to its end, calling `visit` for each member; the sink it returns (if any) gets the member's
 * bytes. Rejects on a truncated archive.
 */
export async function readTar(input: AsyncIterable<Buffer>, visit: (member: TarMember) => MemberSink | undefined): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  let ended = false;
  // The member being streamed: bytes left, padding left, where they go.
  let remaining = 0;
  let padding = 0;
  let sink: MemberSink | undefined;
  // What GNU long-name ('L', 'K') and pax ('x') headers say about the next member.
  let nextPath: string | undefined;
  let nextLink: string | undefined;

  const collect = (done: (text: string) => void): MemberSink => {
    const parts: Buffer[] = [];
    return { write: (chunk) => parts.push(chunk), end: () => done(Buffer.concat(parts).toString('utf8')) };
  };
  const endMember = (): void => {
    sink?.end();
    sink = undefined;
  };

  const header = (block: Buffer): void => {
    if (block.every((b) => b === 0)) {
      ended = true;
      return;
    }
    const typeflag = String.fromCharCode(block[156]);
    const size = numberField(block, 124, 12);
    remaining = size;
    padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (typeflag === 'L') sink = collect((name) => (nextPath = name.replace(/\0+$/, '')));
    else if (typeflag === 'K') sink = collect((name) => (nextLink = name.replace(/\0+$/, '')));
    else if (typeflag === 'x') {
      sink = collect((text) => {
        const records = paxRecords(text);
        nextPath = records.get('path') ?? nextPath;
        nextLink = records.get('linkpath') ?? nextLink;
      });
    } else if (typeflag !== 'g') {
      const posix = cString(block, 257, 6) === 'ustar';
      const prefix = posix ? cString(block, 345, 155) : '';
      const name = cString(block, 0, 100);
      const member: TarMember = {
        path: nextPath ?? (prefix ? `${prefix}/${name}` : name),
        type: TYPES[typeflag] ?? 'other',
        size,
        linkTarget: nextLink ?? cString(block, 157, 100),
      };
      nextPath = undefined;
      nextLink = undefined;
      sink = visit(member);
    }
  };

  for await (const chunk of input) {
    if (ended) continue; // drain, so the producer can finish
    const data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      if (remaining > 0) {
        const n = Math.min(remaining, data.length - at);
        sink?.write(data.subarray(at, at + n));
        at += n;
        remaining -= n;
        if (remaining > 0) break;
        endMember();
      }
      if (padding > 0) {
        const n = Math.min(padding, data.length - at);
        at += n;
        padding -= n;
        if (padding > 0) break;
      }
      if (ended || data.length - at < BLOCK) break;
      header(data.subarray(at, at + BLOCK));
      at += BLOCK;
      if (remaining === 0) endMember();
    }
    pending = data.subarray(at);
  }
  if (!ended && (remaining > 0 || pending.length > 0)) throw new Error('truncated tar archive');
}
