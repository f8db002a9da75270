// Module generation, step 1: from a DiffResult, the object that goes into the livepatch module. Included: the changed
// and new functions (each in its own `.text.__spliced_<name>` section, cut out of per-function or grouped sections
// alike), their `.cold` parts, the strings/constants they use, new data and per-site statics (fresh copies), and the
// entries of special sections (`__bug_table`, `__jump_table`, ...) that belong to included code. Every reference is
// retargeted: to included code or copied data inside the module; to an exported symbol (resolved by the module loader,
// with modversions); or, for local and non-exported kernel symbols, to a livepatch relocation that the caller turns
// into `.klp.rela.<object>.<section>` after kbuild linked the module (klp-postprocess.ts).

import { SplicedError } from '../../errors';
import { ElfRelocation, ElfSection, ElfSymbol, SHN, SHT, STB, STT } from '../../elf/reader';
import { encodeRelocations, encodeSymbols, ImageSection, StringTable, SymbolEntry, writeElf } from '../../elf/writer';
import { carriedReadOnlyData, functionsToInclude } from '../differ/carried';
import { DiffResult } from '../differ/diff';
import { ObjectFile, relocationsWithin, resolveReference, SHF, sourceFileOf } from '../differ/object';
import { KernelSymbols, symposOf } from './symbols';
import { RunPreResult } from '../runpre/check';
import { isPerSiteStatic } from '../differ/safety';
import { R_X86_64 } from '../../elf/x86';
import { SPECIAL_SECTION_ENTRY } from '../../elf/x86-special-sections';
import { checkSite, keyFlags, SITE_SIZE, siteJump, STUB_FIELDS, STUB_SIZE, stubCode } from './static-branch';
import { relayout } from './relayout';

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
  /** Symbol namespaces of the exports the code uses (MODULE_IMPORT_NS). */
  namespaces: string[];
}

/** The special sections whose entries for included code a splice carries: those the module loader reads or applies. */
const CARRIED_SPECIAL_SECTIONS = new Set([
  '__bug_table',
  '__ex_table',
  '__jump_table',
  '__mcount_loc',
  '.altinstructions',
  '.parainstructions',
  '.static_call_sites',
  '.return_sites',
  '.retpoline_sites',
  '.smp_locks',
  '.orc_unwind_ip',
]);
const ORC_ENTRY_SIZE = 6;
const PERCPU_SECTION = '.data..percpu';

/** Sections the module loader reads or applies while loading, before a module target's livepatch relocations exist. */
function isLoadTimeSection(name: string): boolean {
  const base = name.replace(/\.__spliced\d*$/, '');
  return CARRIED_SPECIAL_SECTIONS.has(base) || base === '.orc_unwind' || base === '.altinstr_replacement';
}

/** Name of included code/data in the module; `unit` (the translation unit's index) keeps units of one module apart. */
export function splicedSymbolName(name: string, unit = 0): string {
  return `__spliced${unit === 0 ? '' : unit}_${name.replace(/\W/g, '_')}`;
}

interface OutSymbol extends SymbolEntry {
  key: string;
}

/** A static branch on a module's own key (replaceModuleStaticBranches), by included symbol name and post offset. */
interface ModuleKeyedBranch {
  at: number;
  site: string;
  siteIndex: number;
  siteOffset: bigint;
  yes: string;
  yesOffset: bigint;
  klp: string;
  key: string;
  keyAddend: bigint;
  branch: boolean;
}

type Target = { symbol: string; addend: bigint } | { klp: string; addend: bigint };

class Extractor {
  readonly sections: (ImageSection & { relocations: (Omit<ElfRelocation, 'symbol'> & { symbol: string })[] })[] = [];
  readonly symbols = new Map<string, OutSymbol>();
  readonly klpRelocations: KlpRelocation[] = [];
  private readonly copies = new Map<string, string>();
  /** Included functions whose code moved (moveCode), with where each old offset went. */
  private readonly moves = new Map<string, (offset: bigint) => bigint>();
  private readonly included = new Map<number, string>();
  /** Namespaces of the vmlinux exports the code uses (the module imports them). */
  readonly namespaces = new Set<string>();
  private readonly post: ObjectFile;
  private readonly pre: ObjectFile;
  /** The translation unit's source file: tells same-named locals of a module apart. */
  private readonly file: string | undefined;
  /** Changed read-only data only included code uses: copied with that code (differ/carried.ts). */
  private readonly carried: Set<number>;

  constructor(
    private readonly diff: DiffResult,
    private readonly target: string,
    private readonly kernel: KernelSymbols,
    private readonly observed: ReadonlyMap<string, bigint>,
    private readonly unit: number,
    private readonly patchGlobals: ReadonlyMap<string, string>,
  ) {
    this.post = diff.post;
    this.pre = diff.pre;
    this.file = sourceFileOf(diff.pre);
    this.carried = carriedReadOnlyData(diff);
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
    const stubs = this.replaceModuleStaticBranches();
    for (const source of this.post.sections) {
      if (!CARRIED_SPECIAL_SECTIONS.has(source.name) || source.type !== SHT.PROGBITS) continue;
      const size = SPECIAL_SECTION_ENTRY[source.name];
      const keep = this.entriesOfIncludedCode(source, size).filter((at) => !stubs.replaced.has(`${source.index}:${at}`));
      const orcStubs = source.name === '.orc_unwind_ip' ? stubs.orc : [];
      if (keep.length === 0 && orcStubs.length === 0) continue;
      const data = this.post.elf.sectionData(source);
      const kept = Buffer.concat(keep.map((at) => data.subarray(at, at + size)));
      const out = this.addSection({ ...sectionShape(source), name: source.name, data: Buffer.concat([kept, Buffer.alloc(orcStubs.length * size)]) });
      keep.forEach((at, i) => this.translateRange(source, BigInt(at), BigInt(at + size), source.name, BigInt(i * size - at), out));
      orcStubs.forEach((stub, i) =>
        this.sections[out - 1].relocations.push({ offset: BigInt(kept.length + i * size), type: R_X86_64.PC32, addend: BigInt(stub.offset), symbol: stubs.section! }),
      );
      if (source.name === '.orc_unwind_ip') this.includeOrcEntries(keep.map((at) => at / size), orcStubs.map((stub) => stub.entry));
    }
  }

  /** Offsets of the entries of a special section that belong to included code (their first relocation names it). */
  private entriesOfIncludedCode(source: ElfSection, size: number): number[] {
    const entries: number[] = [];
    for (let at = 0; at + size <= source.size; at += size) {
      const [first] = relocationsWithin(this.post, source.index, BigInt(at), BigInt(at + 1));
      if (!first) continue;
      const ref = resolveReference(this.post, source, first);
      if (ref.kind === 'symbol' && this.included.has(ref.symbol.index)) entries.push(at);
    }
    return entries;
  }

  /**
   * Static branches and static calls of included code whose key is a module's own (static-branch.ts): each jump-label
   * site becomes a jump to a stub that tests the key (a 2-byte site is first grown to 5 bytes, moving the code after
   * it: relayout.ts), and a static call site stays an ordinary call of its trampoline, which the kernel keeps pointing
   * at the current function. Their entries are left out (`replaced`, by "section:offset"); `orc` gives each stub the
   * unwind entry of its site.
   */
  private replaceModuleStaticBranches(): { replaced: Set<string>; section?: string; orc: { offset: number; entry: Buffer }[] } {
    const replaced = new Set<string>();
    const orc: { offset: number; entry: Buffer }[] = [];
    if (this.target === 'vmlinux') return { replaced, orc };
    const name = `.text.${splicedSymbolName('static_branches', this.unit)}`;
    const calls = this.post.elf.sectionByName('.static_call_sites');
    for (const at of calls ? this.entriesOfIncludedCode(calls, SPECIAL_SECTION_ENTRY['.static_call_sites']) : []) {
      const [key] = relocationsWithin(this.post, calls!.index, BigInt(at + 4), BigInt(at + 5));
      if (key && 'klp' in this.translate(calls!, key, name)) replaced.add(`${calls!.index}:${at}`);
    }
    const table = this.post.elf.sectionByName('__jump_table');
    const branches = table ? this.moduleKeyedBranches(table, name) : [];
    if (branches.length === 0) return { replaced, orc };
    const lengths = branches.map((b) => checkSite(this.sectionOf(b.site).data, Number(b.siteOffset), b.key, this.target));
    for (const fn of new Set(branches.map((b) => b.site))) {
      const short = branches.filter((b, i) => b.site === fn && lengths[i] < SITE_SIZE);
      if (short.length > 0) this.moveCode(fn, new Map(short.map((b) => [Number(b.siteOffset), SITE_SIZE])));
    }
    const code: Buffer[] = [];
    const relocations: { offset: bigint; target: Target }[] = [];
    for (const [i, b] of branches.entries()) {
      const section = this.sectionOf(b.site);
      const site = this.moves.get(b.site)?.(b.siteOffset) ?? b.siteOffset;
      const stubOffset = code.length * STUB_SIZE;
      code.push(stubCode(b.branch));
      // Stub jumps name the post object's offsets, like every reference to included code; write() moves them.
      relocations.push(
        { offset: BigInt(stubOffset + STUB_FIELDS.key.at), target: { klp: b.klp, addend: b.keyAddend + STUB_FIELDS.key.addend } },
        { offset: BigInt(stubOffset + STUB_FIELDS.yes.at), target: { symbol: b.yes, addend: b.yesOffset + STUB_FIELDS.yes.addend } },
        { offset: BigInt(stubOffset + STUB_FIELDS.back.at), target: { symbol: b.site, addend: b.siteOffset + BigInt(lengths[i]) + STUB_FIELDS.back.addend } },
      );
      // The site's own relocation (a likely branch's jump to a .cold part) would overwrite the new displacement.
      const inSite = (offset: bigint) => offset >= site && offset < site + BigInt(SITE_SIZE);
      section.relocations = section.relocations.filter((r) => !inSite(r.offset));
      this.klpRelocations.splice(0, Infinity, ...this.klpRelocations.filter((r) => r.section !== section.name || !inSite(r.offset)));
      section.data.set(siteJump(), Number(site));
      section.relocations.push({ offset: site + 1n, type: R_X86_64.PC32, addend: BigInt(stubOffset) - 4n, symbol: `section:${name}` });
      const entry = this.orcEntryAt(b.siteIndex, b.siteOffset);
      if (entry) orc.push({ offset: stubOffset, entry });
      replaced.add(`${table!.index}:${b.at}`);
    }
    const out = this.addSection({ name, type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.EXECINSTR, addr: 0n, link: 0, info: 0, addralign: 16, entsize: 0, data: Buffer.concat(code) });
    this.defineSymbol({ key: `section:${name}`, name: '', value: 0n, size: 0, type: STT.SECTION, bind: STB.LOCAL, visibility: 0, shndx: out });
    for (const { offset, target } of relocations) {
      if ('klp' in target) this.klpRelocations.push({ section: name, offset, type: R_X86_64.PC32, addend: target.addend, symbol: target.klp });
      else this.sections[out - 1].relocations.push({ offset, type: R_X86_64.PC32, addend: target.addend, symbol: target.symbol });
    }
    return { replaced, section: `section:${name}`, orc };
  }

  /** The `__jump_table` entries of included code whose key only livepatch can resolve (a module's symbol). */
  private moduleKeyedBranches(table: ElfSection, stubSection: string): ModuleKeyedBranch[] {
    const branches: ModuleKeyedBranch[] = [];
    for (const at of this.entriesOfIncludedCode(table, SPECIAL_SECTION_ENTRY.__jump_table)) {
      const [site, yes, key] = [0, 4, 8].map((field) => relocationsWithin(this.post, table.index, BigInt(at + field), BigInt(at + field + 1))[0]);
      const keyTarget = key && this.translate(table, key, stubSection);
      if (!keyTarget || !('klp' in keyTarget)) continue;
      const siteRef = resolveReference(this.post, table, site);
      const yesRef = resolveReference(this.post, table, yes);
      if (siteRef.kind !== 'symbol' || yesRef.kind !== 'symbol' || !this.included.has(yesRef.symbol.index)) {
        throw new SplicedError('Internal', `a __jump_table entry of ${this.file ?? 'the patched unit'} jumps outside the included code`);
      }
      const { keyAddend, branch } = keyFlags(keyTarget.addend);
      const keyName = this.symbolName(key);
      branches.push({ at, site: this.included.get(siteRef.symbol.index)!, siteIndex: siteRef.symbol.index, siteOffset: siteRef.offset, yes: this.included.get(yesRef.symbol.index)!, yesOffset: yesRef.offset, klp: keyTarget.klp, key: keyName, keyAddend, branch });
    }
    return branches;
  }

  private symbolName(r: ElfRelocation): string {
    return this.post.symbols[r.symbol].name;
  }

  private sectionOf(included: string): Extractor['sections'][number] {
    return this.sections[this.sections.findIndex((s) => s.name === `.text.${included}`)];
  }

  /** Grows instructions of an included function (relayout.ts); references into it are moved when written. */
  private moveCode(fn: string, grow: ReadonlyMap<number, number>): void {
    const section = this.sectionOf(fn);
    const own = this.klpRelocations.filter((r) => r.section === section.name);
    const relocated = new Set([...section.relocations, ...own].map((r) => Number(r.offset)));
    const { code, map } = relayout(section.data, relocated, grow, `the static branches of ${fn}`);
    section.data = code;
    for (const r of [...section.relocations, ...own]) r.offset = map(r.offset);
    this.symbols.get(fn)!.size = code.length;
    this.moves.set(fn, map);
  }

  /**
   * References into moved code follow it: the addend of a relocation naming a moved function is an offset in it
   * (after the 4 bytes a PC-relative field in code counts from). An alternative whose original instructions moved
   * apart cannot be kept: its length is a byte of the entry.
   */
  private followMovedCode(): void {
    for (const section of this.sections) {
      const inCode = (section.flags & SHF.EXECINSTR) !== 0n;
      for (const r of section.relocations) {
        const map = this.moves.get(r.symbol);
        if (!map) continue;
        if (section.name === '.altinstructions' && r.offset % 12n === 0n) {
          const length = BigInt(section.data[Number(r.offset) + 10]);
          if (map(r.addend + length) - map(r.addend) !== length) {
            throw new SplicedError('UnsafePatch', `an alternative in ${r.symbol} spans code that had to move for a static branch`, { reason: 'special-section' });
          }
        }
        const adjust = inCode && (r.type === R_X86_64.PC32 || r.type === R_X86_64.PLT32) ? 4n : 0n;
        r.addend = map(r.addend + adjust) - adjust;
      }
    }
  }

  /** The ORC entry in force at `offset` of function `symbol` of the post object: the last one at or before it. */
  private orcEntryAt(symbol: number, offset: bigint): Buffer | undefined {
    const ips = this.post.elf.sectionByName('.orc_unwind_ip');
    const entries = this.post.elf.sectionByName('.orc_unwind');
    if (!ips || !entries) return undefined;
    let best: { at: number; offset: bigint } | undefined;
    for (const r of relocationsWithin(this.post, ips.index, 0n, BigInt(ips.size))) {
      const ref = resolveReference(this.post, ips, r);
      if (ref.kind !== 'symbol' || ref.symbol.index !== symbol || ref.offset > offset) continue;
      if (!best || ref.offset >= best.offset) best = { at: Number(r.offset) / 4, offset: ref.offset };
    }
    if (!best) throw new SplicedError('Internal', `no unwind (ORC) entry covers the static branch at +${offset} of ${this.post.symbols[symbol].name}`);
    return Buffer.from(this.post.elf.sectionData(entries).subarray(best.at * ORC_ENTRY_SIZE, (best.at + 1) * ORC_ENTRY_SIZE));
  }

  private includeOrcEntries(indexes: number[], extra: Buffer[]): void {
    const orc = this.post.elf.sectionByName('.orc_unwind');
    if (!orc) return;
    const data = this.post.elf.sectionData(orc);
    this.addSection({ ...sectionShape(orc), name: orc.name, data: Buffer.concat([...indexes.map((i) => data.subarray(i * ORC_ENTRY_SIZE, (i + 1) * ORC_ENTRY_SIZE)), ...extra]) });
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
        // Livepatch relocations name their section, which the link may merge with same-named ones (.data..percpu).
        if (outName === PERCPU_SECTION) throw new SplicedError('UnsafePatch', `new per-cpu data is initialized with the address of ${target.klp}`, { reason: 'data-init' });
        this.klpRelocations.push({ section: outName, offset, type: r.type, addend: target.addend, symbol: target.klp });
      } else {
        this.sections[index - 1].relocations.push({ offset, type: r.type, addend: target.addend, symbol: target.symbol });
      }
    }
  }

  private translate(source: ElfSection, r: ElfRelocation, outName: string): Target {
    const ref = resolveReference(this.post, source, r);
    if (ref.kind === 'string') return { symbol: this.copySection(ref.section), addend: BigInt(ref.start) + ref.offset };
    if (ref.kind === 'section') return { symbol: this.copySection(ref.section), addend: ref.offset };
    const s = ref.symbol;
    if (s.shndx === SHN.UNDEF) {
      const inPatch = this.patchGlobals.get(s.name);
      return inPatch ? { symbol: this.externSymbol(inPatch), addend: r.addend } : this.kernelReference(s.name, true, r.addend, outName);
    }
    const included = this.included.get(s.index);
    if (included) return { symbol: included, addend: ref.offset };
    const preIndex = this.diff.correlation.postToPre.get(s.index);
    const existing = preIndex !== undefined && !(s.type !== STT.FUNC && isPerSiteStatic(s.name)) && !this.carried.has(s.index);
    if (existing) return this.kernelReference(this.pre.symbols[preIndex].name, s.bind !== STB.LOCAL, ref.offset, outName);
    if (s.type === STT.FUNC) throw new SplicedError('Internal', `new function ${s.name} is referenced but not included`);
    return { symbol: this.copySymbol(s), addend: ref.offset };
  }

  private kernelReference(name: string, global: boolean, addend: bigint, outName: string): Target {
    const exported = global ? this.kernel.exportOf(name) : undefined;
    // A vmlinux export is an ordinary (modversioned) reference. A module's export is not: the splice would depend on
    // that module and could not go live before it loads; livepatch resolves it when the target module loads (after
    // the modules the target depends on).
    if (exported && (exported.object === 'vmlinux' || this.target === 'vmlinux')) {
      if (exported.namespace) this.namespaces.add(exported.namespace);
      return { symbol: this.externSymbol(name), addend };
    }
    // A module can only link against exports, so whatever else it refers to is its own.
    const object = exported?.object ?? this.target;
    if (isLoadTimeSection(outName) && this.target !== 'vmlinux') throw loadTimeRefusal(outName, name, object);
    const sympos = symposOf(this.kernel, object, name, { global, address: this.observed.get(name), file: this.file });
    return { klp: `.klp.sym.${object}.${name},${sympos}`, addend };
  }

  /** An undefined symbol the kbuild link resolves: a kernel export, or a new global of another unit of the patch. */
  private externSymbol(name: string): string {
    const key = `extern:${name}`;
    if (!this.symbols.has(key)) this.defineSymbol({ key, name, value: 0n, size: 0, type: STT.NOTYPE, bind: STB.GLOBAL, visibility: 0, shndx: SHN.UNDEF });
    return key;
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

  /** New data of the patch: per-site statics and new variables, in fresh copies; a new global under its module name. */
  copySymbol(symbol: ElfSymbol): string {
    const key = `data:${symbol.index}`;
    if (this.copies.has(key)) return key;
    const source = this.post.sections[symbol.shndx];
    const kind = source.type === SHT.NOBITS ? '.bss' : (source.flags & SHF.WRITE) !== 0n ? '.data' : '.rodata';
    // Per-cpu data keeps its section's exact name: the module loader gives that one per-cpu storage, and the code
    // reaches it %gs-relative. Several such copies share the name; the link merges them.
    const name = source.name === PERCPU_SECTION ? PERCPU_SECTION : `${kind}.${splicedSymbolName(symbol.name, this.unit)}`;
    const out = this.addRange(name, source, symbol.value, symbol.value + BigInt(symbol.size));
    this.copies.set(key, key);
    const global = symbol.bind !== STB.LOCAL ? this.patchGlobals.get(symbol.name) : undefined;
    this.defineSymbol({ key, name: global ?? symbol.name, value: 0n, size: symbol.size, type: symbol.type, bind: global ? STB.GLOBAL : STB.LOCAL, visibility: 0, shndx: out });
    this.translateRange(source, symbol.value, symbol.value + BigInt(symbol.size), name, -symbol.value, out);
    return key;
  }

  write(): Buffer {
    this.followMovedCode();
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

/** One translation unit of a patch: its diff, its target, and the run-pre result that supplies running addresses. */
export interface PatchUnit {
  diff: DiffResult;
  /** "vmlinux" or the module name. */
  target: string;
  runPre?: RunPreResult;
}

/**
 * New global functions and variables of the whole patch, by name → the name the module defines them under, so that
 * a unit calling a function another unit adds links to it inside the splice.
 */
function newGlobals(units: readonly PatchUnit[]): Map<string, string> {
  const globals = new Map<string, string>();
  units.forEach(({ diff }, unit) => {
    for (const item of [...diff.functions, ...diff.data]) {
      if (item.status === 'new' && item.global && item.post) globals.set(item.name, splicedSymbolName(item.name, unit));
    }
  });
  return globals;
}

/**
 * The extracted object of each unit. A unit's `runPre` supplies the running addresses that decide sympos for names
 * the target has several of; without it such names are refused.
 */
export function extractPatch(units: readonly PatchUnit[], kernel: KernelSymbols): Extracted[] {
  const globals = newGlobals(units);
  return units.map(({ diff, target, runPre }, unit) => {
    const observed = new Map(runPre?.observed ?? []);
    for (const f of runPre?.functions ?? []) observed.set(f.name, f.address);
    const extractor = new Extractor(diff, target, kernel, observed, unit, globals);
    extractor.includeFunctions(functionsToInclude(diff));
    for (const d of diff.data) if (d.status === 'new' && d.global && d.post) extractor.copySymbol(d.post);
    extractor.includeSpecialSections();
    const functions = diff.functions
      .filter((f) => f.status === 'changed' && f.parent === undefined && f.pre)
      .map((f) => ({
        oldName: f.pre!.name,
        sympos: symposOf(kernel, target, f.pre!.name, { global: f.global, address: observed.get(f.pre!.name), file: sourceFileOf(diff.pre) }),
        newSymbol: splicedSymbolName(f.post!.name, unit),
      }));
    return { target, object: extractor.write(), functions, klpRelocations: extractor.klpRelocations, namespaces: [...extractor.namespaces].sort() };
  });
}

/**
 * A module-target splice cannot carry a load-time entry (alternative, exception table, ...) that names a symbol of a
 * module: the module loader processes those entries while loading the splice, and livepatch resolves module symbols
 * only later, when it patches that module. (Static branches and static calls on such symbols are rewritten instead:
 * replaceModuleStaticBranches.)
 */
function loadTimeRefusal(section: string, name: string, object: string): SplicedError {
  const base = section.replace(/\.__spliced\d*$/, '');
  return new SplicedError(
    'UnsafePatch',
    `the patched code uses an entry of ${base} that names ${name}; keep that construct in an unchanged helper function the patched code calls. ${name} is a symbol of the module ${object}: the module loader applies ${base} while loading the splice, before livepatch resolves ${object}'s symbols (Linux 6.1), and a splice must not need ${object} loaded`,
    { reason: 'special-section', symbol: name, section: base, object },
  );
}
