// The kernel log as structured records, so a failed load can be explained by what the kernel said during the attempt.
import { closeSync, constants, openSync, readSync } from 'node:fs';

export interface KmsgRecord {
  seq: number;
  message: string;
}

/** The kernel log, read by sequence number. */
export interface KernelLog {
  /** Sequence number of the newest record now (records after it are "since"). */
  position(): Promise<number>;
  recordsSince(seq: number): Promise<KmsgRecord[]>;
}

/** One /dev/kmsg record: "prio,seq,usec,flags[,…];message\n" then optional " KEY=value" continuation lines. */
export function parseKmsgRecord(raw: string): KmsgRecord | undefined {
  const semi = raw.indexOf(';');
  if (semi < 0) return undefined;
  const seq = Number(raw.slice(0, semi).split(',')[1]);
  if (!Number.isInteger(seq)) return undefined;
  const message = raw.slice(semi + 1).split('\n')[0];
  return { seq, message: message.replace(/\\x([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) };
}

const RECORD_BUFFER = 16 * 1024;

/** /dev/kmsg: every open reader starts at the oldest record; each read returns one record; EAGAIN at the end. */
export class DevKmsg implements KernelLog {
  constructor(private readonly path = '/dev/kmsg') {}

  async position(): Promise<number> {
    const records = this.readAll();
    return records.length ? records[records.length - 1].seq : -1;
  }

  async recordsSince(seq: number): Promise<KmsgRecord[]> {
    return this.readAll().filter((record) => record.seq > seq);
  }

  private readAll(): KmsgRecord[] {
    const fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    const buffer = Buffer.alloc(RECORD_BUFFER);
    const records: KmsgRecord[] = [];
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buffer, 0, buffer.length, null);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EPIPE') continue; // records were overwritten while reading: go on with the next one
          if (code === 'EAGAIN') break;
          throw err;
        }
        if (n === 0) break;
        const record = parseKmsgRecord(buffer.toString('utf8', 0, n));
        if (record) records.push(record);
      }
    } finally {
      closeSync(fd);
    }
    return records;
  }
}
