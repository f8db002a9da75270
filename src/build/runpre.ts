// Run-pre check (Ksplice's idea): before a module replaces a function, the pre build's code of that function must be
// the code the kernel is running. Compared byte for byte, except where the running code legitimately differs:
// relocation fields (instead, each one whose target has a kallsyms entry is checked to point at it, and each string
// reference to hold the same text) and sites the
// kernel rewrites at boot, as listed in the object's own special sections (ftrace's __fentry__ calls, alternatives,
// paravirt, jump labels, static calls, return thunks, retpolines, lock prefixes). A match also tells which of several
// same-named symbols the source means: the addresses the running code refers to give their sympos.

import { SplicedError } from '../errors';
import { ElfSymbol, SHN } from '../elf/reader';
import { isPcRelative, R_X86_64, relocationWidth } from '../elf/x86';
import { DiffResult } from './diff';
import { ObjectFile, relocationsWithin, resolveReference } from './diff-object';
import { RunningKernel } from './runpre-sources';

export interface RunPreMatch {
  name: string;
  address: bigint;
  /** Position among same-named symbols of the object (0 when unique). */
  sympos: number;
}

export interface RunPreResult {
  functions: RunPreMatch[];
  /** Symbol name → running address, for every reference the matched code makes. */
  observed: Map<string, bigint>;
}

/** Boot-patched sites: section → (entry size, length of the patched site or where in the entry it is stored). */
const PATCHED_SITES: Record<string, { entry: number; length: number | { at: number } }> = {
  __mcount_loc: { entry: 8, length: 5 },
  '.altinstructions': { entry: 12, length: { at: 10 } },
  '.parainstructions': { entry: 16, length: { at: 9 } },
  __jump_table: { entry: 16, length: 5 },
  '.static_call_sites': { entry: 8, length: 5 },
  '.return_sites': { entry: 4, length: 5 },
  '.retpoline_sites': { entry: 4, length: 6 },
  '.smp_locks': { entry: 4, length: 1 },
};

type Ranges = Map<number, [bigint, bigint][]>;

/** Per text section, the ranges the kernel rewrites at boot. */
export function bootPatchedRanges(obj: ObjectFile): Ranges {
  const ranges: Ranges = new Map();
  for (const section of obj.sections) {
    const spec = PATCHED_SITES[section.name];
    if (!spec) continue;
    const data = obj.elf.sectionData(section);
    for (let at = 0; at + spec.entry <= section.size; at += spec.entry) {
      const [site] = relocationsWithin(obj, section.index, BigInt(at), BigInt(at + 1));
      if (!site) continue;
      const target = obj.symbols[site.symbol];
      if (target.shndx === SHN.UNDEF || target.shndx >= SHN.LORESERVE) continue;
      const start = site.addend + (target.type === 3 ? 0n : target.value);
      const length = typeof spec.length === 'number' ? spec.length : data[at + spec.length.at];
      const list = ranges.get(target.shndx) ?? [];
      list.push([start, start + BigInt(length)]);
      ranges.set(target.shndx, list);
    }
  }
  return ranges;
}

function overlaps(ranges: [bigint, bigint][] | undefined, start: bigint, end: bigint): boolean {
  return (ranges ?? []).some(([a, b]) => a < end && start < b);
}

interface Comparison {
  mismatchAt?: number;
  observed: Map<string, bigint>;
}

function compareFunction(obj: ObjectFile, fn: ElfSymbol, address: bigint, running: Buffer, kernel: RunningKernel, target: string, patched: Ranges): Comparison {
  const section = obj.sections[fn.shndx];
  const code = obj.elf.sectionData(section).subarray(Number(fn.value), Number(fn.value) + fn.size);
  const mask = new Uint8Array(fn.size);
  const observed = new Map<string, bigint>();
  for (const [a, b] of patched.get(fn.shndx) ?? []) {
    for (let i = Number(a - fn.value); i < Number(b - fn.value); i++) if (i >= 0 && i < fn.size) mask[i] = 1;
  }
  for (const r of relocationsWithin(obj, fn.shndx, fn.value, fn.value + BigInt(fn.size))) {
    const at = Number(r.offset - fn.value);
    const width = relocationWidth(r.type);
    const bootPatched = overlaps(patched.get(fn.shndx), r.offset, r.offset + BigInt(width));
    mask.fill(1, at, at + width);
    if (bootPatched || at + width > running.length) continue;
    const ref = resolveReference(obj, section, r);
    const field = r.type === R_X86_64.R64 ? running.readBigUInt64LE(at) : BigInt(running.readInt32LE(at));
    const pointsTo = isPcRelative(r.type) ? address + BigInt(at) + field : r.type === R_X86_64.R32 ? field & 0xffffffffn : field & 0xffffffffffffffffn;
    if (ref.kind === 'string') {
      // The running code's string must be the pre build's (a same-length string change leaves the code identical).
      const start = pointsTo - ref.offset + (isPcRelative(r.type) ? 0n : kernel.absoluteSlide);
      const expected = Buffer.from(ref.text + '\0', 'latin1');
      const actual = kernel.read(start, expected.length);
      if (actual && !actual.equals(expected)) return { mismatchAt: at, observed };
      continue;
    }
    if (ref.kind !== 'symbol') continue;
    const name = ref.symbol.name;
    const candidates = kernel.entriesOf(target, name).map((e) => e.address);
    if (candidates.length === 0) continue;
    const symbolAddress = pointsTo - ref.offset;
    // Absolute fields of a file image hold link-time addresses (per-CPU offsets are never moved by KASLR).
    const hit = candidates.find((c) => c === symbolAddress || (!isPcRelative(r.type) && c === symbolAddress + kernel.absoluteSlide));
    if (hit === undefined) return { mismatchAt: at, observed };
    observed.set(name, hit);
  }
  for (let i = 0; i < fn.size; i++) {
    if (!mask[i] && code[i] !== running[i]) return { mismatchAt: i, observed };
  }
  return { observed };
}

/** Checks every function the diffs replace against the running kernel; throws RunPreMismatch on any difference. */
export function runPreCheck(diff: DiffResult, target: string, kernel: RunningKernel): RunPreResult {
  const patched = bootPatchedRanges(diff.pre);
  const functions: RunPreMatch[] = [];
  const observed = new Map<string, bigint>();
  for (const f of diff.functions) {
    if (f.status !== 'changed' || !f.pre) continue;
    const fn = f.pre;
    const entries = kernel.entriesOf(target, fn.name);
    if (entries.length === 0) {
      throw new SplicedError('RunPreMismatch', `${fn.name} is not in the running ${target} (kallsyms): the source does not match the running kernel`, { function: fn.name });
    }
    const matches: { index: number; comparison: Comparison }[] = [];
    let firstDifference: { address: bigint; offset: number } | undefined;
    entries.forEach((entry, index) => {
      const running = kernel.read(entry.address, fn.size);
      if (!running) return;
      const comparison = compareFunction(diff.pre, fn, entry.address, running, kernel, target, patched);
      if (comparison.mismatchAt === undefined) matches.push({ index, comparison });
      else firstDifference ??= { address: entry.address, offset: comparison.mismatchAt };
    });
    if (matches.length !== 1) {
      const why = matches.length === 0
        ? firstDifference
          ? `differs from the running code at ${fn.name}+0x${firstDifference.offset.toString(16)}`
          : 'has no readable running code'
        : `matches ${matches.length} running functions of that name`;
      throw new SplicedError('RunPreMismatch', `the pre-patch build of ${fn.name} ${why}: the source does not match the running kernel`, {
        function: fn.name,
        ...(firstDifference ? { offset: firstDifference.offset } : {}),
      });
    }
    const [match] = matches;
    functions.push({ name: fn.name, address: entries[match.index].address, sympos: entries.length === 1 ? 0 : match.index + 1 });
    for (const [name, address] of match.comparison.observed) observed.set(name, address);
  }
  return { functions, observed };
}
