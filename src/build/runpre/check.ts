// Run-pre check (Ksplice's idea): before a module replaces a function, the pre build's code of that function must be
// the code the kernel is running. Compared instruction by instruction (decoded lengths, src/elf/x86-decode.ts), because
// the two were assembled differently: the pre object has -ffunction-sections, so a branch to another function is
// `e9`/`0f 8x` + a relocation, where the kernel, linked from whole .text sections, may have the short `eb`/`7x` form;
// relative branches of the same kind are equal when they go to the same place. Relocation fields are checked to point
// at their symbol (through kallsyms, so a reference to a duplicated local name tells which one it is; per-CPU
// symbols by their per-CPU offset) and string references to hold the same text. Sites the kernel rewrites at boot
// or load, as listed in the object's own special sections (ftrace's __fentry__ calls, alternatives, paravirt, jump
// labels, static calls, return thunks, retpolines, lock prefixes), may hold any bytes of the site's length. A match
// also tells which of several same-named symbols the source means: the running address gives its sympos, and when
// the code of several matches, the one from the object's translation unit (where the target's symbol table says which
// unit each local comes from) or else the one among the object's other functions (its position in the link order)
// does. A reference to a local of the object must reach that unit's symbol where the unit is known.

import { SplicedError } from '../../errors';
import { ElfSymbol, SHN, STB, STT } from '../../elf/reader';
import { branchTarget, decodeInstruction, Instruction } from '../../elf/x86-decode';
import { isPcRelative, R_X86_64, relocationWidth } from '../../elf/x86';
import { SPECIAL_SECTION_ENTRY } from '../../elf/x86-special-sections';
import { DiffResult } from '../differ/diff';
import { ObjectFile, relocationsWithin, resolveReference, sourceFileOf, symbolAt } from '../differ/object';
import { RunningKernel } from './sources';

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

/** Where and why the pre build's code differs from one running function. */
export interface Difference {
  offset: number;
  reason: string;
}

/**
 * A site the kernel rewrites at boot or load, and what it may hold then: `length` bytes of anything (alternatives,
 * paravirt), or the instruction at the site in one of the forms the kernel writes there.
 */
type Site = { length: number } | SiteKind;
type SiteKind = 'fentry' | 'jump-label' | 'static-call' | 'return' | 'retpoline' | 'endbr' | 'lock';
/** Per text section: site offset → site. */
export type Sites = Map<number, Map<number, Site>>;

/** Special sections listing rewritten sites: the site's kind, or where in the entry its length is. */
const PATCHED_SITES: Record<string, SiteKind | { lengthAt: number }> = {
  __mcount_loc: 'fentry',
  '.altinstructions': { lengthAt: 10 },
  '.parainstructions': { lengthAt: 9 },
  __jump_table: 'jump-label',
  '.static_call_sites': 'static-call',
  '.return_sites': 'return',
  '.retpoline_sites': 'retpoline',
  '.ibt_endbr_seal': 'endbr',
  '.smp_locks': 'lock',
};

/** Special section name → its entry size, for the sections listing rewritten sites (the test fixtures' maker copies them). */
export const SITE_SECTIONS: Record<string, number> = Object.fromEntries(
  Object.keys(PATCHED_SITES).map((name) => [name, SPECIAL_SECTION_ENTRY[name]]),
);

const NOPS: Record<number, string> = { 2: '6690', 5: '0f1f440000' };

/**
 * Whether `running` (the site's bytes in the running code) is a form the kernel writes at a site of this kind:
 * ftrace's call or nop5 at __fentry__; a jump label's jmp or nop of the same size; a static call's call, jmp, nop5
 * or ret; a return thunk's jmp or `ret; int3…`. Retpoline and ENDBR sites take several rewritten forms: any bytes.
 */
function acceptsSite(kind: SiteKind, running: Buffer): boolean {
  const first = running[0];
  const nop = running.toString('hex') === NOPS[running.length];
  switch (kind) {
    case 'fentry':
      return first === 0xe8 || nop;
    case 'jump-label':
      return first === (running.length === 2 ? 0xeb : 0xe9) || nop;
    case 'static-call':
      return first === 0xe8 || first === 0xe9 || first === 0xc3 || nop;
    case 'return':
      return first === 0xe9 || first === 0xc3;
    case 'lock':
      return first === 0xf0 || first === 0x3e;
    default:
      return true;
  }
}

const MASK64 = (1n << 64n) - 1n;

/** The sites the kernel rewrites at boot or load, from the object's own special sections. */
export function runPreSites(obj: ObjectFile): Sites {
  const sites: Sites = new Map();
  for (const section of obj.sections) {
    const kind = PATCHED_SITES[section.name];
    if (!kind) continue;
    const entry = SPECIAL_SECTION_ENTRY[section.name];
    const data = obj.elf.sectionData(section);
    const entries = relocationsWithin(obj, section.index, 0n, BigInt(section.size));
    for (let at = 0; at + entry <= section.size; at += entry) {
      const site = entries.find((r) => r.offset === BigInt(at));
      if (!site) continue;
      const target = obj.symbols[site.symbol];
      if (target.shndx === SHN.UNDEF || target.shndx >= SHN.LORESERVE) continue;
      const offset = Number(site.addend + (target.type === STT.SECTION ? 0n : target.value));
      const list = sites.get(target.shndx) ?? new Map<number, Site>();
      // An alternative's range wins over an instruction-sized site at the same place (it may span several).
      if (typeof list.get(offset) !== 'object') list.set(offset, typeof kind === 'object' ? { length: data[at + kind.lengthAt] } : kind);
      sites.set(target.shndx, list);
    }
  }
  return sites;
}

/**
 * Of the target's entries named like `symbol`, those that can be it: for a local of the object, the ones from the
 * object's translation unit when the target's symbol table says so (kpatch's lookup by file symbol), else all.
 */
function ownEntries<T extends { file?: string }>(obj: ObjectFile, symbol: ElfSymbol, entries: T[]): T[] {
  const file = sourceFileOf(obj);
  if (entries.length < 2 || symbol.bind !== STB.LOCAL || symbol.shndx === SHN.UNDEF || !file) return entries;
  const own = entries.filter((e) => e.file === file);
  return own.length > 0 ? own : entries;
}

interface Context {
  obj: ObjectFile;
  fn: ElfSymbol;
  target: string;
  kernel: RunningKernel;
  address: bigint;
  observed: Map<string, bigint>;
}

/**
 * Whether `pointsTo` (the running address a field refers to) is the reference's symbol + offset. Per-CPU symbols
 * are offsets KASLR does not move, so a PC-relative field of a slid file image reaches them shifted by the slide.
 */
function checkSymbol(ctx: Context, symbol: ElfSymbol, offset: bigint, pointsTo: bigint, pcRelative: boolean): boolean | undefined {
  const name = symbol.name;
  const candidates = ownEntries(ctx.obj, symbol, ctx.kernel.entriesOf(ctx.target, name)).map((e) => e.address);
  if (candidates.length === 0) return undefined; // not in kallsyms (a module's import): nothing to check against
  const symbolAddress = (pointsTo - offset) & MASK64;
  // A file image's absolute fields hold link-time addresses (kallsyms ones are slid).
  const slid = (pcRelative ? symbolAddress - ctx.kernel.absoluteSlide : symbolAddress + ctx.kernel.absoluteSlide) & MASK64;
  const hit = candidates.find((c) => c === symbolAddress || c === slid);
  if (hit === undefined) return false;
  ctx.observed.set(name, hit);
  return true;
}

/** Checks the relocation fields of one non-branch instruction (pre at `p`, running at `q`). */
function checkFields(ctx: Context, p: number, q: number, length: number, running: Buffer): string | undefined {
  const { obj, fn, kernel } = ctx;
  const section = obj.sections[fn.shndx];
  for (const r of relocationsWithin(ctx.obj, fn.shndx, fn.value + BigInt(p), fn.value + BigInt(p + length))) {
    const at = q + Number(r.offset - fn.value) - p;
    const field = r.type === R_X86_64.R64 || r.type === R_X86_64.PC64 ? running.readBigUInt64LE(at) : BigInt(running.readInt32LE(at));
    const pc = isPcRelative(r.type);
    const pointsTo = (pc ? ctx.address + BigInt(at) + field : r.type === R_X86_64.R32 ? field & 0xffffffffn : field) & MASK64;
    const ref = resolveReference(obj, section, r);
    if (ref.kind === 'string') {
      // The running code's string must be the pre build's (a same-length string change leaves the code identical).
      const start = pointsTo - ref.offset + (pc ? 0n : kernel.absoluteSlide);
      const expected = Buffer.from(ref.text + '\0', 'latin1');
      const actual = kernel.read(start, expected.length);
      if (actual && !actual.equals(expected)) return 'string differs';
    } else if (ref.kind === 'symbol' && checkSymbol(ctx, ref.symbol, ref.offset, pointsTo, pc) === false) {
      return `reference to ${ref.symbol.name} differs`;
    }
  }
  return undefined;
}

/**
 * Checks two relative branches of the same kind: the running one (at `q`, going to `runTarget`) must go where the
 * pre one goes — its relocation's symbol, another function of its section, or the same instruction of this function
 * (checked at the end, through `pending`, when all instruction positions are known).
 */
function checkBranch(ctx: Context, code: Buffer, p: number, pre: Instruction, runTarget: number, pending: [number, number][]): string | undefined {
  const { obj, fn } = ctx;
  const running = ctx.address + BigInt(runTarget);
  const fieldAt = fn.value + BigInt(p + pre.branch!.at);
  const [r] = relocationsWithin(obj, fn.shndx, fieldAt, fieldAt + 1n);
  if (r) {
    // PC-relative to the field's end, which is the instruction's end: the target is S + A + 4.
    const ref = resolveReference(obj, obj.sections[fn.shndx], r);
    if (ref.kind !== 'symbol') return undefined;
    return checkSymbol(ctx, ref.symbol, ref.offset + 4n, running, true) === false ? `branch to ${ref.symbol.name} differs` : undefined;
  }
  const target = branchTarget(code, p, pre)!;
  if (target >= 0 && target <= fn.size) {
    pending.push([target, runTarget]);
    return undefined;
  }
  // Another function of the same section (.init.text, .noinstr.text, ... are not split per function).
  const other = symbolAt(obj, fn.shndx, fn.value + BigInt(target));
  if (!other) return 'branch out of the function';
  return checkSymbol(ctx, other, fn.value + BigInt(target) - other.value, running, true) === false ? `branch to ${other.name} differs` : undefined;
}

const hex = (b: Buffer) => b.toString('hex');

/** The offset after the no-ops from `at` on (stopping at a rewritten site of the pre object: those are checked). */
function skipPadding(code: Buffer, at: number, sites?: Map<number, Site>, base = 0): number {
  for (let insn = decodeInstruction(code, at); insn?.nop && !sites?.has(base + at); insn = decodeInstruction(code, at)) at += insn.length;
  return at;
}

function compareFunction(ctx: Context, running: Buffer, sites: Map<number, Site> | undefined): Difference | undefined {
  const { obj, fn } = ctx;
  const code = obj.elf.sectionData(obj.sections[fn.shndx]).subarray(Number(fn.value), Number(fn.value) + fn.size);
  const positions = new Map<number, number>();
  const pending: [number, number][] = [];
  let p = 0;
  let q = 0;
  const differ = (reason: string): Difference => ({ offset: p, reason });
  while (p < fn.size) {
    positions.set(p, q);
    const pre = decodeInstruction(code, p);
    if (!pre) return differ('undecodable instruction');
    const site = sites?.get(Number(fn.value) + p);
    if (site !== undefined && site !== 'lock') {
      const length = typeof site === 'object' ? site.length : pre.length;
      if (q + length > running.length) return differ('running code ends early');
      if (typeof site !== 'object' && !acceptsSite(site, running.subarray(q, q + length))) {
        return differ(`${site} site differs (${hex(running.subarray(q, q + length))})`);
      }
      p += length;
      q += length;
      continue;
    }
    const run = decodeInstruction(running, q);
    if (!run) return differ('undecodable running instruction');
    if (pre.nop || run.nop) {
      // Alignment padding (an `.align` in inline assembly): its length depends on where the code was placed.
      p = skipPadding(code, p, sites, Number(fn.value));
      q = skipPadding(running, q);
      continue;
    }
    if (pre.branch && run.branch && pre.branch.kind === run.branch.kind && pre.branch.condition === run.branch.condition) {
      const sameForm = pre.length === run.length && code.subarray(p, p + pre.branch.at).equals(running.subarray(q, q + run.branch.at));
      if (!sameForm && (pre.branch.kind === 'call' || pre.branch.kind === 'loop')) return differ(`branch encoding differs (${hex(code.subarray(p, p + pre.length))} / ${hex(running.subarray(q, q + run.length))})`);
      const why = checkBranch(ctx, code, p, pre, branchTarget(running, q, run)!, pending);
      if (why) return differ(why);
      p += pre.length;
      q += run.length;
      continue;
    }
    if (pre.length !== run.length) return differ(`instruction differs (${hex(code.subarray(p, p + pre.length))} / ${hex(running.subarray(q, q + run.length))})`);
    const masked = new Uint8Array(pre.length);
    if (site === 'lock' && acceptsSite('lock', running.subarray(q, q + 1))) masked[0] = 1;
    for (const r of relocationsWithin(obj, fn.shndx, fn.value + BigInt(p), fn.value + BigInt(p + pre.length))) {
      const at = Number(r.offset - fn.value) - p;
      masked.fill(1, at, at + relocationWidth(r.type));
    }
    for (let i = 0; i < pre.length; i++) {
      if (!masked[i] && code[p + i] !== running[q + i]) return differ(`instruction differs (${hex(code.subarray(p, p + pre.length))} / ${hex(running.subarray(q, q + run.length))})`);
    }
    const why = checkFields(ctx, p, q, pre.length, running);
    if (why) return differ(why);
    p += pre.length;
    q += pre.length;
  }
  if (p !== fn.size) return differ('the last instruction runs past the function end');
  positions.set(p, q);
  for (const [target, runTarget] of pending) {
    if (positions.get(target) !== runTarget) return { offset: target, reason: 'branch inside the function differs' };
  }
  return undefined;
}

/** The result of checking one function against every running function of its name. */
export interface FunctionCheck {
  /** How many running functions have that name. */
  entries: number;
  /** Those whose code matches: one, unless the code and the object's position cannot tell several apart. */
  matched: { index: number; address: bigint; observed: Map<string, bigint> }[];
  /** The first difference from a running function, when none matched. */
  difference?: Difference;
  /** Whether several running functions' code matched and the object's position told them apart. */
  byPosition: boolean;
}

/** Section name without its -ffunction-sections suffix: where the linker puts it relative to its neighbours. */
function outputSection(name: string): string {
  return /^\.text\.(unlikely|hot|startup|exit)\./.test(name) ? name.split('.', 3).join('.') : name.startsWith('.text.') ? '.text' : name;
}

/**
 * Of several running functions whose code matches, the one that lies among the object's other functions: the linker
 * keeps an object's functions of one output section together, so the nearest running neighbour of a same-section
 * function with a unique name tells which object's copy this is.
 */
function byPosition(obj: ObjectFile, fn: ElfSymbol, target: string, kernel: RunningKernel, matched: FunctionCheck['matched']): FunctionCheck['matched'] {
  const home = outputSection(obj.sections[fn.shndx].name);
  const anchors = obj.functions
    .filter((f) => f !== fn && outputSection(obj.sections[f.shndx].name) === home)
    .flatMap((f) => kernel.entriesOf(target, f.name))
    .filter((e, _, all) => all.filter((o) => o.name === e.name).length === 1)
    .map((e) => e.address);
  if (anchors.length === 0) return matched;
  const distance = (address: bigint) => anchors.reduce((best, a) => (a > address ? a - address : address - a) < best ? (a > address ? a - address : address - a) : best, MASK64);
  const ranked = [...matched].sort((a, b) => (distance(a.address) < distance(b.address) ? -1 : 1));
  return distance(ranked[0].address) < distance(ranked[1].address) ? [ranked[0]] : matched;
}

/** Checks one function of the pre object against every running function of its name. */
export function checkFunction(obj: ObjectFile, fn: ElfSymbol, target: string, kernel: RunningKernel, sites: Sites): FunctionCheck {
  const entries = kernel.entriesOf(target, fn.name);
  let matched: FunctionCheck['matched'] = [];
  let difference: Difference | undefined;
  entries.forEach((entry, index) => {
    // The running function may be longer (short branches in the pre object where it has near ones): read some slack.
    const running = kernel.read(entry.address, 2 * fn.size + 16) ?? kernel.read(entry.address, fn.size);
    if (!running) return;
    const ctx: Context = { obj, fn, target, kernel, address: entry.address, observed: new Map() };
    const found = compareFunction(ctx, running, sites.get(fn.shndx));
    if (!found) matched.push({ index, address: entry.address, observed: ctx.observed });
    else difference ??= found;
  });
  const several = matched.length > 1;
  if (several) {
    const own = ownEntries(obj, fn, matched.map((m) => ({ ...m, file: entries[m.index].file })));
    matched = own.length === 1 ? own : byPosition(obj, fn, target, kernel, matched);
  }
  return { entries: entries.length, matched, byPosition: several && matched.length === 1, ...(matched.length === 0 && difference && { difference }) };
}

/** Checks every function the diffs replace against the running kernel; throws RunPreMismatch on any difference. */
export function runPreCheck(diff: DiffResult, target: string, kernel: RunningKernel): RunPreResult {
  const sites = runPreSites(diff.pre);
  const functions: RunPreMatch[] = [];
  const observed = new Map<string, bigint>();
  for (const f of diff.functions) {
    if (f.status !== 'changed' || !f.pre) continue;
    const fn = f.pre;
    const check = checkFunction(diff.pre, fn, target, kernel, sites);
    if (check.entries === 0) {
      throw new SplicedError('RunPreMismatch', `${fn.name} is not in the running ${target} (kallsyms): the source does not match the running kernel`, { function: fn.name });
    }
    if (check.matched.length !== 1) {
      const difference = check.difference;
      const why = check.matched.length > 1
        ? `matches ${check.matched.length} running functions of that name`
        : difference
          ? `differs from the running code at ${fn.name}+0x${difference.offset.toString(16)} (${difference.reason})`
          : 'has no readable running code';
      throw new SplicedError('RunPreMismatch', `the pre-patch build of ${fn.name} ${why}: the source does not match the running kernel`, {
        function: fn.name,
        ...(difference ? { offset: difference.offset } : {}),
      });
    }
    const [match] = check.matched;
    functions.push({ name: fn.name, address: match.address, sympos: check.entries === 1 ? 0 : match.index + 1 });
    for (const [name, address] of match.observed) observed.set(name, address);
  }
  return { functions, observed };
}
