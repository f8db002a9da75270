// Module generation, step 1: from a DiffResult, the object that goes into the livepatch module. Included: the changed
// and new functions (each in its own `.text.__spliced_<name>` section, cut out of per-function or grouped sections
// alike), their `.cold` parts, the strings/constants they use, new data and per-site statics (fresh copies), and the
// entries of special sections (`__bug_table`, `__jump_table`, ...) that belong to included code. Every reference is
// retargeted: to included code or copied data inside the module; to an exported symbol (resolved by the module loader,
// with modversions); or, for local and non-exported kernel symbols, to a livepatch relocation that the caller turns
// into `.klp.rela.<object>.<section>` after kbuild linked the module (klp-postprocess.ts).

import { SplicedError } from '../errors';
import { ElfRelocation, ElfSection, ElfSymbol, SHN, SHT, STB, STT } from '../elf/reader';
import { encodeRelocations, encodeSymbols, ImageSection, StringTable, SymbolEntry, writeElf } from '../elf/writer';
import { DiffResult } from './diff';
import { ObjectFile, relocationsWithin, resolveReference, SHF } from './diff-object';
import { KernelSymbols, symposOf } from './klp-symbols';
import { RunPreResult } from './runpre';
import { isPerSiteStatic } from './safety';

export interface KlpRelocation {
  /** Section of the extracted object (the name survives the kbuild link). */
  section: string;
  offset: bigint;
  type: number;
  addend: bigint;
  /** `.klp.sym.<object>.<name>,<sympos>` */
  symbol: string;
}

export interface PatchedFunctionSpec {
  /** Name in the running kernel. */
  oldName: string;
  sympos: number;
  /** Symbol of the replacement in the module (a C identifier). */
  newSymbol: string;
}

export interface Extracted {
  /** "vmlinux" or the module name. */
  target: string;
  object: Buffer;
  functions: PatchedFunctionSpec[];
  klpRelocations: KlpRelocation[];
}

/** Fixed-size entries of special sections, and which relocation of an entry names the code it belongs to. */
const SPECIAL_ENTRY_SIZE: Record<string, number> = {
  __bug_table: 12,
  __ex_table: 12,
  __jump_table: 16,
  __mcount_loc: 8,
  '.altinstructions': 12,
  '.parainstructions': 16,
  '.static_call_sites': 8,
  '.return_sites': 4,
  '.retpoline_sites': 4,
  '.smp_locks': 4,
  '.orc_unwind_ip': 4,
};
const ORC_ENTRY_SIZE = 6;

/** Sections the module loader reads or applies while loading, before a module target's livepatch relocations exist. */
function isLoadTimeSection(name: string): boolean {
  const base = name.replace(/\.__spliced\d*$/, '');
  return base in SPECIAL_ENTRY_SIZE || base === '.orc_unwind' || base === '.altinstr_replacement';
}

/** Name of included code/data in the module; `unit` (the translation unit's index) keeps units of one module apart. */
export function splicedSymbolName(name: string, unit = 0): string {
  return `__spliced${unit === 0 ? '' : unit}_${name.replace(/\W/g, '_')}`;
}

interface OutSymbol extends SymbolEntry {
  key: string;
}

type Target = { symbol: string; addend: bigint } | { klp: string; addend: bigint };

class Extractor {
  readonly sections: (ImageSection & { relocations: (Omit<ElfRelocation, 'symbol'> & { symbol: string })[] })[] = [];
  readonly symbols = new Map<string, OutSymbol>();
  readonly klpRelocations: KlpRelocation[] = [];
  private readonly copies = new Map<string, string>();
  private readonly included = new Map<number, string>();
  private readonly post: ObjectFile;
  private readonly pre: ObjectFile;

  constructor(
    private readonly diff: DiffResult,
    private readonly target: string,
    private readonly kernel: KernelSymbols,
    private readonly observed: ReadonlyMap<string, bigint>,
    private readonly unit: number,
  ) {
    this.post = diff.post;
    this.pre = diff.pre;
  }

  includeFunctions(functions: ElfSymbol[]): void {
    for (const fn of functions) this.included.set(fn.index, splicedSymbolName(fn.name, this.unit));
    for (const fn of functions) {
      const source = this.post.sections[fn.shndx];
      const name = this.included.get(fn.index)!;
      const out = this.addRange(`.text.${name}`, source, fn.value, fn.value + BigInt(fn.size));
      this.defineSymbol({ key: name, name, value: 0n, size: fn.size, type: STT.FUNC, bind: STB.GLOBAL, visibility: 0, shndx: out });
    }
    for (const fn of functions) this.translateRange(this.post.sections[fn.shndx], fn.value, fn.value + BigInt(fn.size), `.text.${this.included.get(fn.index)}`);
  }

  includeSpecialSections(): void {
    for (const source of this.post.sections) {
      const size = SPECIAL_ENTRY_SIZE[source.name];
      if (size === undefined || source.type !== SHT.PROGBITS) continue;
      const keep: number[] = [];
      for (let at = 0; at + size <= source.size; at += size) {
        const [first] = relocationsWithin(this.post, source.index, BigInt(at), BigInt(at + 1));
        if (!first) continue;
        const ref = resolveReference(this.post, source, first);
        if (ref.kind === 'symbol' && this.included.has(ref.symbol.index)) keep.push(at);
      }
      if (keep.length === 0) continue;
      const data = this.post.elf.sectionData(source);
      const out = this.addSection({ ...sectionShape(source), name: source.name, data: Buffer.concat(keep.map((at) => data.subarray(at, at + size))) });
      keep.forEach((at, i) => this.translateRange(source, BigInt(at), BigInt(at + size), source.name, BigInt(i * size - at), out));
      if (source.name === '.orc_unwind_ip') this.includeOrcEntries(keep.map((at) => at / size));
    }
  }

  private includeOrcEntries(indexes: number[]): void {
    const orc = this.post.elf.sectionByName('.orc_unwind');
    if (!orc) return;
    const data = this.post.elf.sectionData(orc);
    this.addSection({ ...sectionShape(orc), name: orc.name, data: Buffer.concat(indexes.map((i) => data.subarray(i * ORC_ENTRY_SIZE, (i + 1) * ORC_ENTRY_SIZE))) });
  }

  /** Copies [start, end) of a section into a new output section; returns its output index (1-based). */
  private addRange(name: string, source: ElfSection, start: bigint, end: bigint): number {
    const data = source.type === SHT.NOBITS ? Buffer.alloc(Number(end - start)) : Buffer.from(this.post.elf.sectionData(source).subarray(Number(start), Number(end)));
    return this.addSection({ ...sectionShape(source), name, data });
  }

  private addSection(section: ImageSection): number {
    this.sections.push({ ...section, relocations: [] });
    return this.sections.length;
  }

  private defineSymbol(symbol: OutSymbol): void {
    this.symbols.set(symbol.key, symbol);
  }

  /** Retargets the relocations of [start, end) of `source` into output section `outName` (shifted by `shift`). */
  private translateRange(source: ElfSection, start: bigint, end: bigint, outName: string, shift = -start, outIndex?: number): void {
    const index = outIndex ?? this.sections.findIndex((s) => s.name === outName) + 1;
    for (const r of relocationsWithin(this.post, source.index, start, end)) {
      const target = this.translate(source, r, outName);
      const offset = r.offset + shift;
      if ('klp' in target) {
        this.klpRelocations.push({ section: outName, offset, type: r.type, addend: target.addend, symbol: target.klp });
      } else {
        this.sections[index - 1].relocations.push({ offset, type: r.type, addend: target.addend, symbol: target.symbol });
      }
    }
  }

  private translate(source: ElfSection, r: ElfRelocation, outName: string): Target {
    const ref = resolveReference(this.post, source, r);
    if (ref.kind !== 'symbol') return { symbol: this.copySection(ref.section), addend: r.addend };
    const s = ref.symbol;
    if (s.shndx === SHN.UNDEF) return this.kernelReference(s.name, true, r.addend, outName);
    const included = this.included.get(s.index);
    if (included) return { symbol: included, addend: ref.offset };
    const preIndex = this.diff.correlation.postToPre.get(s.index);
    const existing = preIndex !== undefined && !(s.type !== STT.FUNC && isPerSiteStatic(s.name));
    if (existing) return this.kernelReference(this.pre.symbols[preIndex].name, s.bind !== STB.LOCAL, ref.offset, outName);
    if (s.type === STT.FUNC) throw new SplicedError('Internal', `new function ${s.name} is referenced but not included`);
    return { symbol: this.copySymbol(s), addend: ref.offset };
  }

  private kernelReference(name: string, global: boolean, addend: bigint, outName: string): Target {
    if (global && this.kernel.isExported(name)) {
      const key = `extern:${name}`;
      if (!this.symbols.has(key)) this.defineSymbol({ key, name, value: 0n, size: 0, type: STT.NOTYPE, bind: STB.GLOBAL, visibility: 0, shndx: SHN.UNDEF });
      return { symbol: key, addend };
    }
    if (isLoadTimeSection(outName) && this.target !== 'vmlinux') {
      // The loader applies vmlinux's livepatch relocations while loading (since 5.8), before it processes special
      // sections; a module's are applied only when that module is patched, too late for a jump label or static call.
      throw new SplicedError('UnsafePatch', `${outName} of the patched code refers to ${name}, which ${this.target} does not export`, {
        reason: 'special-section',
        symbol: name,
        section: outName,
      });
    }
    const sympos = symposOf(this.kernel, this.target, name, { global, address: this.observed.get(name) });
    return { klp: `.klp.sym.${this.target}.${name},${sympos}`, addend };
  }

  private copySection(source: ElfSection): string {
    const key = `section:${source.index}`;
    const known = this.copies.get(key);
    if (known) return known;
    const name = `${source.name}.${splicedSymbolName('', this.unit).slice(0, -1)}`;
    const out = this.addRange(name, source, 0n, BigInt(source.size));
    this.copies.set(key, key);
    this.defineSymbol({ key, name: '', value: 0n, size: 0, type: STT.SECTION, bind: STB.LOCAL, visibility: 0, shndx: out });
    this.translateRange(source, 0n, BigInt(source.size), name);
    return key;
  }

  private copySymbol(symbol: ElfSymbol): string {
    const key = `data:${symbol.index}`;
    if (this.copies.has(key)) return key;
    const source = this.post.sections[symbol.shndx];
    const kind = source.type === SHT.NOBITS ? '.bss' : (source.flags & SHF.WRITE) !== 0n ? '.data' : '.rodata';
    const name = `${kind}.${splicedSymbolName(symbol.name, this.unit)}`;
    const out = this.addRange(name, source, symbol.value, symbol.value + BigInt(symbol.size));
    this.copies.set(key, key);
    this.defineSymbol({ key, name: symbol.name, value: 0n, size: symbol.size, type: symbol.type, bind: STB.LOCAL, visibility: 0, shndx: out });
    this.translateRange(source, symbol.value, symbol.value + BigInt(symbol.size), name);
    return key;
  }

  write(): Buffer {
    const strings = new StringTable();
    const ordered = [...this.symbols.values()].sort((a, b) => Number(a.bind !== STB.LOCAL) - Number(b.bind !== STB.LOCAL));
    const indexOf = new Map(ordered.map((s, i) => [s.key, i + 1]));
    const firstGlobal = ordered.findIndex((s) => s.bind !== STB.LOCAL);
    const { symtab } = encodeSymbols([{ name: '', value: 0n, size: 0, type: 0, bind: 0, visibility: 0, shndx: 0 }, ...ordered], strings);
    const count = this.sections.length;
    const symtabIndex = count + this.sections.filter((s) => s.relocations.length > 0).length + 1;
    const sections: ImageSection[] = this.sections.map(({ relocations: _r, ...s }) => s);
    this.sections.forEach((s, i) => {
      if (s.relocations.length === 0) return;
      const relocations = s.relocations.map((r) => ({ ...r, symbol: indexOf.get(r.symbol)! }));
      sections.push({ name: `.rela${s.name}`, type: SHT.RELA, flags: 0x40n, addr: 0n, link: symtabIndex, info: i + 1, addralign: 8, entsize: 24, data: encodeRelocations(relocations) });
    });
    sections.push({ name: '.symtab', type: SHT.SYMTAB, flags: 0n, addr: 0n, link: symtabIndex + 1, info: firstGlobal < 0 ? ordered.length + 1 : firstGlobal + 1, addralign: 8, entsize: 24, data: symtab });
    sections.push({ name: '.strtab', type: SHT.STRTAB, flags: 0n, addr: 0n, link: 0, info: 0, addralign: 1, entsize: 0, data: strings.bytes() });
    sections.push({ name: '.shstrtab', type: SHT.STRTAB, flags: 0n, addr: 0n, link: 0, info: 0, addralign: 1, entsize: 0, data: Buffer.alloc(0) });
    sections.push({ name: '.note.GNU-stack', type: SHT.PROGBITS, flags: 0n, addr: 0n, link: 0, info: 0, addralign: 1, entsize: 0, data: Buffer.alloc(0) });
    return writeElf({ osabi: 0, type: 1, machine: 62, flags: 0, sections });
  }
}

function sectionShape(source: ElfSection): Omit<ImageSection, 'name' | 'data'> {
  return { type: source.type, flags: source.flags, addr: 0n, link: 0, info: 0, addralign: source.addralign, entsize: source.entsize };
}

/** The functions a livepatch replaces or adds for one diff, `.cold` parts of included functions included. */
export function functionsToInclude(diff: DiffResult): ElfSymbol[] {
  const chosen = diff.functions.filter((f) => f.post && (f.status === 'changed' || f.status === 'new'));
  const names = new Set(chosen.map((f) => f.name));
  const cold = diff.functions.filter((f) => f.post && f.parent !== undefined && names.has(f.parent) && !names.has(f.name));
  return [...chosen, ...cold].map((f) => f.post!);
}

/**
 * `runPre`, the result of the run-pre check, supplies the running addresses that decide sympos for names the target
 * has several of; without it such names are refused.
 */
export function extractPatch(diff: DiffResult, target: string, kernel: KernelSymbols, runPre?: RunPreResult, unit = 0): Extracted {
  const observed = new Map(runPre?.observed ?? []);
  for (const f of runPre?.functions ?? []) observed.set(f.name, f.address);
  const extractor = new Extractor(diff, target, kernel, observed, unit);
  const included = functionsToInclude(diff);
  extractor.includeFunctions(included);
  extractor.includeSpecialSections();
  const functions = diff.functions
    .filter((f) => f.status === 'changed' && f.parent === undefined && f.pre)
    .map((f) => ({
      oldName: f.pre!.name,
      sympos: symposOf(kernel, target, f.pre!.name, { global: f.global, address: observed.get(f.pre!.name) }),
      newSymbol: splicedSymbolName(f.post!.name, unit),
    }));
  return { target, object: extractor.write(), functions, klpRelocations: extractor.klpRelocations };
}
