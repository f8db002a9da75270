// A small deterministic mutation fuzzer for the parsers that read what users and archives hand spliced: a seeded
// generator, byte and line mutations of real inputs (bit flips, truncation, splices, huge counts and offsets), and a
// loop that allows only the parser's named errors. A failure names its seed, iteration and mutation and keeps the
// input that broke it, so it can be replayed. SPLICED_FUZZ_SEED and SPLICED_FUZZ_SCALE (a multiplier of every
// iteration count) change a run on purpose (docs/testing.md).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** mulberry32: tiny, fast, and the same sequence on every machine for a seed. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

export const FUZZ_SEED = Number.parseInt(process.env.SPLICED_FUZZ_SEED ?? '20261130', 10);
const SCALE = Number(process.env.SPLICED_FUZZ_SCALE ?? '1');

/** An iteration count scaled by SPLICED_FUZZ_SCALE. */
export function iterations(base: number): number {
  return Math.max(1, Math.round(base * (Number.isFinite(SCALE) && SCALE > 0 ? SCALE : 1)));
}

/** Values that break length and offset arithmetic: zero, all ones, signed edges, just past a buffer. */
function hugeValues(length: number): bigint[] {
  return [0n, 1n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x7fffffffffffffffn, 0xffffffffffffffffn, BigInt(length), BigInt(length + 1), BigInt(length) * 2n];
}

function writeUint(buf: Buffer, at: number, width: 1 | 2 | 4 | 8, value: bigint): void {
  if (at < 0 || at + width > buf.length) return;
  const v = value & ((1n << BigInt(width * 8)) - 1n);
  if (width === 8) buf.writeBigUInt64LE(v, at);
  else buf.writeUIntLE(Number(v), at, width);
}

/** A field a mutation may aim at: where it is and how wide (e.g. an ELF header's e_shoff). */
export interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
}

/** One random mutation of `input` (never modified), with what was done. `fields` are places worth a huge value. */
export function mutateBytes(rng: Random, input: Buffer, fields: readonly Field[], donors: readonly Buffer[]): { bytes: Buffer; how: string } {
  const buf = Buffer.from(input);
  const kind = rng.below(7);
  const at = rng.below(Math.max(buf.length, 1));
  switch (kind) {
    case 0: {
      const flips = 1 + rng.below(8);
      for (let i = 0; i < flips; i++) if (buf.length > 0) buf[rng.below(buf.length)] ^= 1 << rng.below(8);
      return { bytes: buf, how: `${flips} bit flips` };
    }
    case 1: {
      const length = rng.below(buf.length + 1);
      return { bytes: buf.subarray(0, length), how: `truncated to ${length}` };
    }
    case 2: {
      const field = fields.length > 0 && rng.next() < 0.8 ? rng.pick(fields) : { at, width: rng.pick([1, 2, 4, 8] as const) };
      const value = rng.pick(hugeValues(buf.length));
      writeUint(buf, field.at, field.width, value);
      return { bytes: buf, how: `${field.width}-byte field at ${field.at} = ${value}` };
    }
    case 3: {
      // A region copied over another place: headers and tables land where data was, offsets point into the wrong table.
      const donor = donors.length > 0 && rng.next() < 0.5 ? rng.pick(donors) : input;
      const from = rng.below(Math.max(donor.length, 1));
      const length = Math.min(1 + rng.below(256), donor.length - from, buf.length - at);
      if (length > 0) donor.copy(buf, at, from, from + length);
      return { bytes: buf, how: `${Math.max(length, 0)} bytes from ${from} of ${donor === input ? 'itself' : 'a donor'} at ${at}` };
    }
    case 4: {
      const length = Math.min(1 + rng.below(512), buf.length - at);
      return { bytes: Buffer.concat([buf.subarray(0, at), buf.subarray(at + length)]), how: `${length} bytes cut at ${at}` };
    }
    case 5: {
      const length = 1 + rng.below(64);
      const fill = Buffer.alloc(length, rng.pick([0, 0xff, 0x7f, 0x80]));
      return { bytes: Buffer.concat([buf.subarray(0, at), fill, buf.subarray(at)]), how: `${length} bytes of ${fill[0]} inserted at ${at}` };
    }
    default: {
      const value = rng.pick([0, 0xff, 0x7f, 0x80, 1]);
      for (let i = 0; i < 1 + rng.below(16) && at + i < buf.length; i++) buf[at + i] = value;
      return { bytes: buf, how: `bytes at ${at} set to ${value}` };
    }
  }
}

/** Lines that mean something to a patch, changelog or mbox reader: headers, hunk headers with huge counts, odd modes. */
const TEXT_PIECES = [
  '',
  '\r',
  '\\ No newline at end of file',
  '@@ -1 +1 @@',
  '@@ -0,0 +1,4294967295 @@',
  '@@ -99999999999999999999,1 +1,1 @@',
  '@@ -1,9007199254740993 +1,1 @@',
  'diff --git a/x b/x',
  'diff --git /dev/null /dev/null',
  'diff --git a b c',
  'diff --git "a/x y" "b/x y"',
  '--- /dev/null',
  '+++ /dev/null',
  '--- /dev/null\n+++ /dev/null',
  '--- a/fs/proc/meminfo.c\n+++ /dev/null',
  '--- a/../../etc/passwd',
  '+++ /etc/shadow',
  '--- a/fs/proc/meminfo.c\t1970-01-01 00:00:00',
  '+++ b/fs/proc/meminfo.c',
  'new file mode 120000',
  'deleted file mode 100644',
  'old mode 100644',
  'rename from fs/a.c',
  'GIT binary patch',
  'literal 0',
  'Binary files a/x and b/x differ',
  'index 0000000..1111111 120000',
  'From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001',
  'Subject: [PATCH 1/2] x',
  'Spliced-Version: 6.1.192-2',
  'Spliced-Version: ; rm -rf /',
  'CVE-2024-00000000000000000001',
  'linux (6.1.192-3) bookworm-security; urgency=high',
  'linux (',
  ' -- Someone <a@b>  Thu, 26 Nov 2026 18:12:56 +0100',
  '  * a fix (CVE-2026-1234)',
  '    - a sub-item',
  '      continued',
  ' ',
  '+',
  '-',
  '-- ',
];

/** One random mutation of a text, line-wise or byte-wise, with what was done. */
export function mutateText(rng: Random, input: string, donors: readonly string[]): { text: string; how: string } {
  const lines = input.split('\n');
  const at = rng.below(lines.length + 1);
  switch (rng.below(9)) {
    case 0:
      lines.splice(at, 1 + rng.below(4));
      return { text: lines.join('\n'), how: `lines cut at ${at}` };
    case 1: {
      const piece = rng.pick(TEXT_PIECES);
      lines.splice(at, 0, piece);
      return { text: lines.join('\n'), how: `line ${JSON.stringify(piece)} inserted at ${at}` };
    }
    case 2: {
      const piece = rng.pick(TEXT_PIECES);
      lines[Math.min(at, lines.length - 1)] = piece;
      return { text: lines.join('\n'), how: `line ${at} replaced by ${JSON.stringify(piece)}` };
    }
    case 3: {
      const donor = rng.pick(donors.length > 0 ? donors : [input]).split('\n');
      const from = rng.below(donor.length);
      const taken = donor.slice(from, from + 1 + rng.below(20));
      lines.splice(at, 0, ...taken);
      return { text: lines.join('\n'), how: `${taken.length} donor lines from ${from} spliced in at ${at}` };
    }
    case 4: {
      const from = rng.below(lines.length);
      const copy = lines.slice(from, from + 1 + rng.below(40));
      lines.splice(at, 0, ...copy);
      return { text: lines.join('\n'), how: `${copy.length} lines from ${from} repeated at ${at}` };
    }
    case 5: {
      const line = Math.min(at, lines.length - 1);
      lines[line] = lines[line].replace(/\d+/g, () => rng.pick(['0', '4294967296', '99999999999999999999', '-1', '1e308']));
      return { text: lines.join('\n'), how: `numbers of line ${line} made huge` };
    }
    case 6: {
      const line = Math.min(at, lines.length - 1);
      const prefix = rng.pick(['+', '-', ' ', '\\', '@', 'd', '']);
      lines[line] = prefix + lines[line].slice(1);
      return { text: lines.join('\n'), how: `first character of line ${line} made ${JSON.stringify(prefix)}` };
    }
    case 7: {
      const length = rng.below(input.length + 1);
      return { text: input.slice(0, length), how: `truncated to ${length}` };
    }
    default: {
      const { bytes, how } = mutateBytes(rng, Buffer.from(input, 'utf8'), [], []);
      return { text: bytes.toString('utf8'), how: `bytes: ${how}` };
    }
  }
}

/** A few mutations on top of each other: the second and third reach states the first makes reachable. */
export function stacked<T>(rng: Random, input: T, mutate: (value: T) => { value: T; how: string }): { value: T; how: string } {
  let value = input;
  const steps: string[] = [];
  for (let n = 1 + rng.below(3); n > 0; n--) {
    const next = mutate(value);
    value = next.value;
    steps.push(next.how);
  }
  return { value, how: steps.join('; ') };
}

/** One input may take this long at most. */
const SLOW_MS = 2000;

/** What a fuzz target is: how to mutate, what to run, which errors are the named ones. */
export interface FuzzTarget<T> {
  mutate: (rng: Random) => { value: T; how: string };
  run: (value: T) => void;
  allowed: (err: unknown) => boolean;
  save: (value: T) => Buffer;
}

export interface FuzzFailure {
  seed: number;
  iteration: number;
  how: string;
  error: string;
  kept: string;
}

/** What a run saw: inputs the parser took, inputs it refused with a named error, and the crashes. */
export interface FuzzRun {
  accepted: number;
  refused: number;
  failures: FuzzFailure[];
}

function keep(name: string, iteration: number, bytes: Buffer): string {
  const kept = join(mkdtempSync(join(tmpdir(), `spliced-fuzz-${name}-`)), `iteration-${iteration}`);
  writeFileSync(kept, bytes);
  return kept;
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message).split('\n').slice(0, 4).join('\n    ') : String(err);
}

/**
 * Runs `count` mutated inputs through the target. Counts the outcomes (a fuzzer whose every input is refused at the
 * first byte proves little) and keeps each crashing input in a file. `progress[0]` is the iteration under way, for
 * whoever watches for a hang.
 */
export function fuzzHere<T>(name: string, target: FuzzTarget<T>, count: number, seed: number, progress?: Int32Array): FuzzRun {
  const rng = new Random(seed);
  const failures: FuzzFailure[] = [];
  let accepted = 0;
  let refused = 0;
  for (let iteration = 0; iteration < count && failures.length < 5; iteration++) {
    const { value, how } = target.mutate(rng);
    if (progress) Atomics.store(progress, 0, iteration);
    const started = performance.now();
    try {
      target.run(value);
      accepted++;
      // A parser that goes quadratic (or worse) on a crafted input is a way to stall the daemon too.
      const ms = performance.now() - started;
      if (ms > SLOW_MS) throw new Error(`took ${Math.round(ms)} ms (limit ${SLOW_MS})`);
    } catch (err) {
      if (target.allowed(err) && performance.now() - started <= SLOW_MS) {
        refused++;
        continue;
      }
      failures.push({ seed, iteration, how, error: errorText(err), kept: keep(name, iteration, target.save(value)) });
    }
  }
  return { failures, accepted, refused };
}

/** The input of one iteration, made again: the mutations are a function of the seed alone. */
export function replay<T>(target: FuzzTarget<T>, seed: number, iteration: number): { value: T; how: string } {
  const rng = new Random(seed);
  let input = target.mutate(rng);
  for (let i = 0; i < iteration; i++) input = target.mutate(rng);
  return input;
}

/** A failure list as an assertion message: seed, iteration, mutation, the error's stack top, the kept input. */
export function describeFailures(failures: readonly FuzzFailure[]): string {
  return failures.map((f) => `seed ${f.seed} iteration ${f.iteration} (${f.how}) kept in ${f.kept}:\n    ${f.error}`).join('\n');
}
