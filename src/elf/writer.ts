// ELF64 little-endian writer for relocatable objects: the builder's extracted patch object and the post-processed
// livepatch .ko. An ElfImage is an editable copy of a file (sections with their bytes); writeElf lays it out afresh:
// header, section data in order (aligned), section name table rebuilt, section headers last.

import { ElfFile, ElfRelocation, ElfSymbol, SHN, SHT } from './reader';

export interface ImageSection {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** Contents; for SHT_NOBITS only its length counts (the size). */
  data: Buffer;
}

export interface ElfImage {
  /** e_ident[EI_OSABI]. */
  osabi: number;
  type: number;
  machine: number;
  flags: number;
  /** Section 0 (the null section) is implicit; index i here is section i + 1 of the file. */
  sections: ImageSection[];
}

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYMBOL_SIZE = 24;
const RELA_SIZE = 24;

/** An editable copy of a parsed file; the .shstrtab entry is kept and rebuilt on write. */
export function imageOf(elf: ElfFile, raw: Buffer): ElfImage {
  return {
    osabi: raw[7],
    type: elf.type,
    machine: elf.machine,
    flags: raw.readUInt32LE(48),
    sections: elf.sections.slice(1).map((s) => ({
      name: s.name,
      type: s.type,
      flags: s.flags,
      addr: s.addr,
      link: s.link,
      info: s.info,
      addralign: s.addralign,
      entsize: s.entsize,
      data: s.type === SHT.NOBITS ? Buffer.alloc(s.size) : Buffer.from(elf.sectionData(s)),
    })),
  };
}

export function writeElf(image: ElfImage): Buffer {
  const count = image.sections.length + 1;
  const shstrtabAt = image.sections.findIndex((s) => s.name === '.shstrtab');
  const names = new StringTable();
  const nameOffsets = image.sections.map((s) => names.add(s.name));
  const sections = image.sections.map((s, i) => (i === shstrtabAt ? { ...s, data: names.bytes() } : s));

  let cursor = EHDR_SIZE;
  const offsets: number[] = [];
  for (const s of sections) {
    const align = Math.max(1, s.addralign);
    cursor = Math.ceil(cursor / align) * align;
    offsets.push(cursor);
    if (s.type !== SHT.NOBITS) cursor += s.data.length;
  }
  const shoff = Math.ceil(cursor / 8) * 8;
  const out = Buffer.alloc(shoff + count * SHDR_SIZE);

  out.writeUInt32LE(0x464c457f, 0);
  out[4] = 2; // ELFCLASS64
  out[5] = 1; // little endian
  out[6] = 1; // EV_CURRENT
  out[7] = image.osabi;
  out.writeUInt16LE(image.type, 16);
  out.writeUInt16LE(image.machine, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt32LE(image.flags, 48);
  out.writeUInt16LE(EHDR_SIZE, 52);
  out.writeUInt16LE(SHDR_SIZE, 58);
  // Extended numbering: counts that do not fit 16 bits go into the null section header.
  const extended = count >= SHN.LORESERVE;
  out.writeUInt16LE(extended ? 0 : count, 60);
  const shstrndx = shstrtabAt + 1;
  out.writeUInt16LE(shstrndx >= SHN.LORESERVE ? SHN.XINDEX : shstrndx, 62);
  if (extended) out.writeBigUInt64LE(BigInt(count), shoff + 32);
  if (shstrndx >= SHN.LORESERVE) out.writeUInt32LE(shstrndx, shoff + 40);

  sections.forEach((s, i) => {
    if (s.type !== SHT.NOBITS) s.data.copy(out, offsets[i]);
    const at = shoff + (i + 1) * SHDR_SIZE;
    out.writeUInt32LE(nameOffsets[i], at);
    out.writeUInt32LE(s.type, at + 4);
    out.writeBigUInt64LE(s.flags, at + 8);
    out.writeBigUInt64LE(s.addr, at + 16);
    out.writeBigUInt64LE(BigInt(offsets[i]), at + 24);
    out.writeBigUInt64LE(BigInt(s.data.length), at + 32);
    out.writeUInt32LE(s.link, at + 40);
    out.writeUInt32LE(s.info, at + 44);
    out.writeBigUInt64LE(BigInt(s.addralign), at + 48);
    out.writeBigUInt64LE(BigInt(s.entsize), at + 56);
  });
  return out;
}

/** A string table under construction; identical strings share one entry. */
export class StringTable {
  private readonly parts: Buffer[] = [Buffer.alloc(1)];
  private readonly seen = new Map<string, number>([['', 0]]);
  private size = 1;

  add(text: string): number {
    const known = this.seen.get(text);
    if (known !== undefined) return known;
    const offset = this.size;
    const bytes = Buffer.from(text + '\0', 'latin1');
    this.parts.push(bytes);
    this.size += bytes.length;
    this.seen.set(text, offset);
    return offset;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export type SymbolEntry = Omit<ElfSymbol, 'index'>;

/** Encodes a symbol table (entry 0 included by the caller) and its extended-index table when needed. */
export function encodeSymbols(symbols: readonly SymbolEntry[], strings: StringTable): { symtab: Buffer; shndx?: Buffer } {
  const symtab = Buffer.alloc(symbols.length * SYMBOL_SIZE);
  const shndx = Buffer.alloc(symbols.length * 4);
  let needsShndx = false;
  symbols.forEach((s, i) => {
    const at = i * SYMBOL_SIZE;
    symtab.writeUInt32LE(s.name === '' ? 0 : strings.add(s.name), at);
    symtab[at + 4] = (s.bind << 4) | s.type;
    symtab[at + 5] = s.visibility;
    const special = s.shndx >= SHN.LORESERVE && s.shndx <= 0xffff;
    if (!special && s.shndx >= SHN.LORESERVE) {
      needsShndx = true;
      symtab.writeUInt16LE(SHN.XINDEX, at + 6);
      shndx.writeUInt32LE(s.shndx, i * 4);
    } else {
      symtab.writeUInt16LE(s.shndx, at + 6);
    }
    symtab.writeBigUInt64LE(s.value, at + 8);
    symtab.writeBigUInt64LE(BigInt(s.size), at + 16);
  });
  return needsShndx ? { symtab, shndx } : { symtab };
}

export function encodeRelocations(relocations: readonly ElfRelocation[]): Buffer {
  const out = Buffer.alloc(relocations.length * RELA_SIZE);
  relocations.forEach((r, i) => {
    const at = i * RELA_SIZE;
    out.writeBigUInt64LE(r.offset, at);
    out.writeBigUInt64LE((BigInt(r.symbol) << 32n) | BigInt(r.type), at + 8);
    out.writeBigInt64LE(r.addend, at + 16);
  });
  return out;
}
