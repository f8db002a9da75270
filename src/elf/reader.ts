// ELF64 little-endian reader for relocatable objects and kernel modules (x86-64): sections, symbols, relocations.
// Every offset is bounds-checked so a truncated or corrupt file gives ElfFormatError, never a RangeError deep inside.

export class ElfFormatError extends Error {
  override readonly name = 'ElfFormatError';
}

export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  NOBITS: 8,
  REL: 9,
  GROUP: 17,
  SYMTAB_SHNDX: 18,
} as const;

export const SHN = { UNDEF: 0, LORESERVE: 0xff00, ABS: 0xfff1, COMMON: 0xfff2, XINDEX: 0xffff } as const;

export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: bigint;
  size: number;
  type: number;
  bind: number;
  visibility: number;
  /** Section index, with SHN_XINDEX already resolved. */
  shndx: number;
}

export interface ElfRelocation {
  offset: bigint;
  type: number;
  symbol: number;
  addend: bigint;
}

export interface ElfFile {
  type: number;
  machine: number;
  sections: ElfSection[];
  /** The bytes of a section (empty for SHT_NOBITS). */
  sectionData(section: ElfSection): Buffer;
  sectionByName(name: string): ElfSection | undefined;
  /** Symbols of the (single) .symtab, index 0 included. */
  symbols(): ElfSymbol[];
  /** Relocations of a SHT_RELA section. */
  relocations(section: ElfSection): ElfRelocation[];
}

const ELF_MAGIC = 0x464c457f;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const SECTION_HEADER_SIZE = 64;
const SYMBOL_SIZE = 24;
const RELA_SIZE = 24;

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new ElfFormatError(what);
}

function cString(buf: Buffer, start: number): string {
  check(start >= 0 && start < buf.length, `string offset ${start} is outside its table`);
  const end = buf.indexOf(0, start);
  check(end >= 0, `string at ${start} is not terminated`);
  return buf.toString('latin1', start, end);
}

function toNumber(value: bigint, what: string): number {
  check(value <= BigInt(Number.MAX_SAFE_INTEGER), `${what} is too large`);
  return Number(value);
}

export function parseElf(buf: Buffer): ElfFile {
  check(buf.length >= 64, 'file is shorter than an ELF header');
  check(buf.readUInt32LE(0) === ELF_MAGIC, 'no ELF magic');
  check(buf[4] === ELFCLASS64, 'not a 64-bit ELF file');
  check(buf[5] === ELFDATA2LSB, 'not a little-endian ELF file');

  const type = buf.readUInt16LE(16);
  const machine = buf.readUInt16LE(18);
  const shoff = toNumber(buf.readBigUInt64LE(40), 'section header offset');
  const shentsize = buf.readUInt16LE(58);
  let shnum = buf.readUInt16LE(60);
  let shstrndx = buf.readUInt16LE(62);
  check(shoff > 0, 'no section headers');
  check(shentsize === SECTION_HEADER_SIZE, `unexpected section header size ${shentsize}`);
  check(shoff + SECTION_HEADER_SIZE <= buf.length, 'section headers lie beyond the end of the file');
  // Large section counts live in section 0 (ELF extended numbering); kernel objects with -ffunction-sections reach them.
  if (shnum === 0) shnum = buf.readUInt32LE(shoff + 32);
  if (shstrndx === SHN.XINDEX) shstrndx = buf.readUInt32LE(shoff + 40);
  check(shoff + shnum * SECTION_HEADER_SIZE <= buf.length, 'section headers lie beyond the end of the file');

  const sections: ElfSection[] = [];
  for (let index = 0; index < shnum; index++) {
    const at = shoff + index * SECTION_HEADER_SIZE;
    const section: ElfSection = {
      index,
      name: '',
      type: buf.readUInt32LE(at + 4),
      flags: buf.readBigUInt64LE(at + 8),
      addr: buf.readBigUInt64LE(at + 16),
      offset: toNumber(buf.readBigUInt64LE(at + 24), 'section offset'),
      size: toNumber(buf.readBigUInt64LE(at + 32), 'section size'),
      link: buf.readUInt32LE(at + 40),
      info: buf.readUInt32LE(at + 44),
      addralign: toNumber(buf.readBigUInt64LE(at + 48), 'section alignment'),
      entsize: toNumber(buf.readBigUInt64LE(at + 56), 'section entry size'),
    };
    if (section.type !== SHT.NOBITS && section.type !== SHT.NULL) {
      check(section.offset + section.size <= buf.length, `section ${index} lies beyond the end of the file`);
    }
    sections.push(section);
  }
  check(shstrndx < sections.length, 'section name table index out of range');
  const shstrtab = dataOf(buf, sections[shstrndx]);
  for (const section of sections) section.name = cString(shstrtab, readName(buf, shoff, section));

  const byName = new Map<string, ElfSection>();
  for (const section of sections) if (!byName.has(section.name)) byName.set(section.name, section);

  let symbolCache: ElfSymbol[] | undefined;
  const readSymbols = (): ElfSymbol[] => {
    const symtab = sections.find((s) => s.type === SHT.SYMTAB);
    if (!symtab) return [];
    check(symtab.link < sections.length, 'symbol string table index out of range');
    const strtab = dataOf(buf, sections[symtab.link]);
    const shndxSection = sections.find((s) => s.type === SHT.SYMTAB_SHNDX && s.link === symtab.index);
    const shndxData = shndxSection ? dataOf(buf, shndxSection) : undefined;
    const data = dataOf(buf, symtab);
    const symbols: ElfSymbol[] = [];
    for (let index = 0; index * SYMBOL_SIZE + SYMBOL_SIZE <= data.length; index++) {
      const at = index * SYMBOL_SIZE;
      const info = data[at + 4];
      let shndx = data.readUInt16LE(at + 6);
      if (shndx === SHN.XINDEX) {
        check(shndxData !== undefined && index * 4 + 4 <= shndxData.length, `symbol ${index} has no extended section index`);
        shndx = shndxData.readUInt32LE(index * 4);
      }
      symbols.push({
        index,
        name: cString(strtab, data.readUInt32LE(at)),
        value: data.readBigUInt64LE(at + 8),
        size: toNumber(data.readBigUInt64LE(at + 16), 'symbol size'),
        type: info & 0xf,
        bind: info >> 4,
        visibility: data[at + 5] & 0x3,
        shndx,
      });
    }
    return symbols;
  };

  return {
    type,
    machine,
    sections,
    sectionData: (section) => dataOf(buf, section),
    sectionByName: (name) => byName.get(name),
    symbols: () => (symbolCache ??= readSymbols()),
    relocations: (section) => {
      check(section.type === SHT.RELA, `section ${section.name} is not SHT_RELA`);
      const data = dataOf(buf, section);
      const relocations: ElfRelocation[] = [];
      for (let at = 0; at + RELA_SIZE <= data.length; at += RELA_SIZE) {
        const info = data.readBigUInt64LE(at + 8);
        relocations.push({
          offset: data.readBigUInt64LE(at),
          type: Number(info & 0xffffffffn),
          symbol: Number(info >> 32n),
          addend: data.readBigInt64LE(at + 16),
        });
      }
      return relocations;
    },
  };
}

function readName(buf: Buffer, shoff: number, section: ElfSection): number {
  return buf.readUInt32LE(shoff + section.index * SECTION_HEADER_SIZE);
}

function dataOf(buf: Buffer, section: ElfSection): Buffer {
  if (section.type === SHT.NOBITS || section.type === SHT.NULL) return Buffer.alloc(0);
  return buf.subarray(section.offset, section.offset + section.size);
}
