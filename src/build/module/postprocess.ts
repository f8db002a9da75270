// Module generation, step 3: after kbuild linked the module, turn the recorded livepatch relocations into what the
// kernel expects (Documentation/livepatch/module-elf-format.rst): `.klp.rela.<object>.<section>` RELA sections flagged
// SHF_RELA_LIVEPATCH against symbols `.klp.sym.<object>.<name>,<sympos>` whose section index is SHN_LIVEPATCH. They
// are added only now because kbuild's link and modpost would reject symbols no exported table provides.

import { SplicedError } from '../../errors';
import { parseElf, SHT, STB, STT } from '../../elf/reader';
import { encodeRelocations, encodeSymbols, imageOf, StringTable, writeElf } from '../../elf/writer';
import { KlpRelocation } from './extract';

export const SHF_RELA_LIVEPATCH = 0x00100000n;
export const SHN_LIVEPATCH = 0xff20;
const SHF_ALLOC = 0x2n;
const SHF_INFO_LINK = 0x40n;

export function addLivepatchRelocations(ko: Buffer, target: string, relocations: readonly KlpRelocation[]): Buffer {
  if (relocations.length === 0) return ko;
  const elf = parseElf(ko);
  const image = imageOf(elf, ko);
  const symtab = elf.sections.find((s) => s.type === SHT.SYMTAB);
  if (!symtab) throw new SplicedError('BuildFailed', 'the linked module has no symbol table');
  const symbols = elf.symbols().map(({ index: _i, ...s }) => s);
  const symbolIndex = new Map<string, number>();
  for (const name of new Set(relocations.map((r) => r.symbol))) {
    symbolIndex.set(name, symbols.length);
    symbols.push({ name, value: 0n, size: 0, type: STT.NOTYPE, bind: STB.GLOBAL, visibility: 0, shndx: SHN_LIVEPATCH });
  }
  const strings = new StringTable();
  const { symtab: symtabBytes } = encodeSymbols(symbols, strings);
  image.sections[symtab.index - 1].data = symtabBytes;
  image.sections[symtab.link - 1].data = strings.bytes();

  const bySection = new Map<string, KlpRelocation[]>();
  for (const r of relocations) bySection.set(r.section, [...(bySection.get(r.section) ?? []), r]);
  for (const [section, list] of bySection) {
    const patched = elf.sectionByName(section);
    if (!patched) throw new SplicedError('BuildFailed', `section ${section} disappeared in the kbuild link`);
    image.sections.push({
      name: `.klp.rela.${target}.${section}`,
      type: SHT.RELA,
      flags: SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH,
      addr: 0n,
      link: symtab.index,
      info: patched.index,
      addralign: 8,
      entsize: 24,
      data: encodeRelocations(list.map((r) => ({ offset: r.offset, type: r.type, addend: r.addend, symbol: symbolIndex.get(r.symbol)! }))),
    });
  }
  return writeElf(image);
}
