import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf, SHT } from '../../../src/elf/reader';
import { encodeSymbols, imageOf, StringTable, writeElf } from '../../../src/elf/writer';

function compile(source: string): { dir: string; object: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'elf-writer-'));
  writeFileSync(join(dir, 'a.c'), source);
  execFileSync('gcc-12', ['-w', '-O2', '-ffunction-sections', '-fdata-sections', '-c', 'a.c', '-o', 'a.o'], { cwd: dir });
  return { dir, object: readFileSync(join(dir, 'a.o')) };
}

const SOURCE = 'static int counter = 3;\nconst char *name(void) { counter++; return "spliced"; }\nint use(void) { return counter + (int)name()[0]; }\n';

test('parse → image → write keeps every section, symbol and relocation', () => {
  const { dir, object } = compile(SOURCE);
  rmSync(dir, { recursive: true, force: true });
  const before = parseElf(object);
  const after = parseElf(writeElf(imageOf(before, object)));
  // .shstrtab is rebuilt (gcc shares name suffixes; the writer does not), so only its names are compared.
  const shape = (s: { name: string; type: number; flags: bigint; size: number; link: number; info: number }) =>
    [s.name, s.type, s.flags, s.name === '.shstrtab' ? 0 : s.size, s.link, s.info];
  assert.deepEqual(after.sections.map(shape), before.sections.map(shape));
  for (const s of before.sections.filter((x) => x.name !== '.shstrtab')) assert.deepEqual(after.sectionData(after.sections[s.index]), before.sectionData(s), s.name);
  assert.deepEqual(after.symbols(), before.symbols());
  const rela = before.sections.filter((s) => s.type === SHT.RELA);
  assert.ok(rela.length > 0);
  for (const s of rela) assert.deepEqual(after.relocations(after.sections[s.index]), before.relocations(s));
});

test('a written object links: binutils accept what the writer lays out', () => {
  const { dir, object } = compile(SOURCE);
  const elf = parseElf(object);
  const image = imageOf(elf, object);
  // Rename a symbol through a re-encoded symbol table, as the module post-processor does.
  const symtab = elf.sections.find((s) => s.type === SHT.SYMTAB)!;
  const strings = new StringTable();
  const symbols = elf.symbols().map(({ index: _i, ...s }) => (s.name === 'use' ? { ...s, name: 'use_renamed' } : s));
  image.sections[symtab.index - 1].data = encodeSymbols(symbols, strings).symtab;
  image.sections[symtab.link - 1].data = strings.bytes();
  writeFileSync(join(dir, 'b.o'), writeElf(image));
  execFileSync('ld', ['-r', '-o', join(dir, 'c.o'), join(dir, 'b.o')]);
  const names = parseElf(readFileSync(join(dir, 'c.o'))).symbols().map((s) => s.name);
  rmSync(dir, { recursive: true, force: true });
  assert.ok(names.includes('use_renamed') && !names.includes('use'), names.join(','));
});
