// One side of a pre/post pair, indexed for the differ: which symbols live in which section, which relocations apply
// to which section, and where each relocation really points (a symbol plus offset, a string, a constant).

import { ElfFile, ElfRelocation, ElfSection, ElfSymbol, parseElf, SHN, SHT, STB, STT } from '../../elf/reader';
import { referenceAdjustment } from '../../elf/x86';

export const SHF = { WRITE: 0x1n, ALLOC: 0x2n, EXECINSTR: 0x4n, MERGE: 0x10n, STRINGS: 0x20n } as const;

export interface ObjectFile {
  raw: Buffer;
  elf: ElfFile;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Defined, named, non-section symbols of each section, by ascending value. */
  symbolsIn: Map<number, ElfSymbol[]>;
  /** Relocations applying to each section (by the section's index). */
  relocationsOf: Map<number, ElfRelocation[]>;
  functions: ElfSymbol[];
  dataObjects: ElfSymbol[];
}

/** What a relocation refers to, in terms that survive renumbering and re-layout. */
export type Reference =
  | { kind: 'symbol'; symbol: ElfSymbol; offset: bigint }
  | { kind: 'string'; section: ElfSection; text: string; start: number; offset: bigint }
  | { kind: 'section'; section: ElfSection; offset: bigint };

export function loadObject(raw: Buffer): ObjectFile {
  const elf = parseElf(raw);
  const symbols = elf.symbols();
  const symbolsIn = new Map<number, ElfSymbol[]>();
  for (const s of symbols) {
    if (s.index === 0 || s.type === STT.SECTION || s.type === STT.FILE || s.name === '' || isAssemblerLabel(s)) continue;
    if (s.shndx === SHN.UNDEF || s.shndx >= SHN.LORESERVE) continue;
    const list = symbolsIn.get(s.shndx) ?? [];
    list.push(s);
    symbolsIn.set(s.shndx, list);
  }
  for (const list of symbolsIn.values()) list.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : b.size - a.size));
  const relocationsOf = new Map<number, ElfRelocation[]>();
  for (const s of elf.sections) if (s.type === SHT.RELA) relocationsOf.set(s.info, elf.relocations(s));
  const defined = (s: ElfSymbol) => s.shndx !== SHN.UNDEF && s.shndx < SHN.LORESERVE && s.name !== '';
  return {
    raw,
    elf,
    sections: elf.sections,
    symbols,
    symbolsIn,
    relocationsOf,
    functions: symbols.filter((s) => s.type === STT.FUNC && defined(s)),
    dataObjects: symbols.filter((s) => s.type === STT.OBJECT && defined(s)),
  };
}

/**
 * A local label the assembler kept in the symbol table (`.LC9`): it does so for references into mergeable sections,
 * e.g. a string literal an inline-asm `__bug_table` entry names. Such a label is only an offset in its section.
 */
export function isAssemblerLabel(s: ElfSymbol): boolean {
  return s.type === STT.NOTYPE && s.bind === STB.LOCAL && s.name.startsWith('.L') && s.shndx !== SHN.UNDEF;
}

/** The translation unit's source file, as the compiler named it (`cm.c`). */
export function sourceFileOf(obj: ObjectFile): string | undefined {
  return obj.symbols.find((s) => s.type === STT.FILE)?.name;
}

export function isCode(section: ElfSection): boolean {
  return (section.flags & SHF.EXECINSTR) !== 0n;
}

/** Relocations whose field lies within [start, end) of a section, in offset order. */
export function relocationsWithin(obj: ObjectFile, section: number, start: bigint, end: bigint): ElfRelocation[] {
  const all = obj.relocationsOf.get(section) ?? [];
  return all.filter((r) => r.offset >= start && r.offset < end).sort((a, b) => (a.offset < b.offset ? -1 : 1));
}

/** The defined symbol of a section that covers `offset` (or starts there), preferring sized symbols. */
export function symbolAt(obj: ObjectFile, section: number, offset: bigint): ElfSymbol | undefined {
  const list = obj.symbolsIn.get(section) ?? [];
  let best: ElfSymbol | undefined;
  for (const s of list) {
    if (s.value > offset) break;
    const end = s.value + BigInt(s.size);
    if (offset < end || (s.size === 0 && s.value === offset)) best = s;
  }
  return best;
}

/** Where relocation `r`, applying to section `from`, points. */
export function resolveReference(obj: ObjectFile, from: ElfSection, r: ElfRelocation): Reference {
  const target = obj.symbols[r.symbol];
  const label = isAssemblerLabel(target);
  if (target.type !== STT.SECTION && !label) return { kind: 'symbol', symbol: target, offset: r.addend };
  const section = obj.sections[target.shndx];
  const data = obj.elf.sectionData(from);
  // `offset` of a string or section reference is relative to the section, whatever symbol the relocation names.
  const addend = label ? r.addend + target.value : r.addend;
  const referenced = addend + BigInt(referenceAdjustment(data, Number(r.offset), r.type, isCode(from)));
  if ((section.flags & SHF.STRINGS) !== 0n) {
    const bytes = obj.elf.sectionData(section);
    const at = Math.max(0, Math.min(Number(referenced), bytes.length - 1));
    const start = at === 0 ? 0 : bytes.lastIndexOf(0, at - 1) + 1;
    const end = bytes.indexOf(0, at);
    const text = bytes.toString('latin1', start, end < 0 ? bytes.length : end);
    return { kind: 'string', section, text, start, offset: addend - BigInt(start) };
  }
  const symbol = symbolAt(obj, section.index, referenced);
  if (symbol) return { kind: 'symbol', symbol, offset: addend - symbol.value };
  return { kind: 'section', section, offset: addend };
}
