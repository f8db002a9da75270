// Phase 2 of the differ: a comparable description of each function and data object. Bytes alone miss a same-length
// string change (bytes and raw relocations stay identical), and raw relocations flag every function whose target merely
// moved, so each relocation is described by what it refers to: a symbol under its correlated name, the text of a
// string, or the contents of an anonymous constant section.

import { ElfSection, ElfSymbol, SHN, SHT } from '../../elf/reader';
import { relocationWidth } from '../../elf/x86';
import { Correlation } from './correlate';
import { ObjectFile, Reference, relocationsWithin, resolveReference } from './object';

export type Side = 'pre' | 'post';

export class Describer {
  private readonly anonymous = new Map<number, string>();

  constructor(
    readonly obj: ObjectFile,
    private readonly side: Side,
    private readonly correlation: Correlation,
  ) {}

  /** The name a symbol is compared under: its pre name, or "+name" for a symbol only the post object has. */
  nameOf(symbol: ElfSymbol): string {
    if (symbol.shndx === SHN.UNDEF) return `extern:${symbol.name}`;
    const preIndex = this.side === 'pre' ? symbol.index : this.correlation.postToPre.get(symbol.index);
    return preIndex === undefined ? `+${symbol.name}` : this.correlation.preName.get(preIndex) ?? symbol.name;
  }

  describeReference(ref: Reference): string {
    switch (ref.kind) {
      case 'symbol':
        return `${this.nameOf(ref.symbol)}+${ref.offset}`;
      case 'string':
        return `string:${JSON.stringify(ref.text)}+${ref.offset}`;
      case 'section':
        return `${ref.section.name}{${this.describeAnonymous(ref.section)}}+${ref.offset}`;
    }
  }

  /** Bytes in [start, end) of a section plus what each relocation there refers to. */
  describeRange(section: ElfSection, start: bigint, end: bigint): string {
    const bytes = Buffer.from(this.obj.elf.sectionData(section).subarray(Number(start), Number(end)));
    const relocations = relocationsWithin(this.obj, section.index, start, end);
    const parts = relocations.map((r) => {
      const at = Number(r.offset - start);
      bytes.fill(0, at, Math.min(bytes.length, at + relocationWidth(r.type)));
      return `${at}:${r.type}:${this.describeReference(resolveReference(this.obj, section, r))}`;
    });
    return `${bytes.toString('hex')}|${parts.join(';')}`;
  }

  describeSymbol(symbol: ElfSymbol): string {
    const section = this.obj.sections[symbol.shndx];
    if (section.type === SHT.NOBITS) return `bss:${symbol.size}`;
    return this.describeRange(section, symbol.value, symbol.value + BigInt(symbol.size));
  }

  private describeAnonymous(section: ElfSection): string {
    const known = this.anonymous.get(section.index);
    if (known !== undefined) return known;
    this.anonymous.set(section.index, '<cycle>');
    const text = this.describeRange(section, 0n, BigInt(section.size));
    this.anonymous.set(section.index, text);
    return text;
  }
}
