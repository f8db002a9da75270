import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFormatError, parseElf, SHT, STT } from '../../../src/elf/reader';

// A real object from the host's gcc, with a function, a string, a static and relocations between them.
function compileObject(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'elf-reader-'));
  writeFileSync(
    join(dir, 'sample.c'),
    'static int counter = 7;\n__attribute__((noinline)) const char *greeting(void) { counter++; return "hello"; }\nint extern_user(void) { return puts(greeting()); }\nint puts(const char *);\n',
  );
  execFileSync('gcc', ['-w', '-O2', '-ffunction-sections', '-fdata-sections', '-c', 'sample.c', '-o', 'sample.o'], { cwd: dir });
  return readFileSync(join(dir, 'sample.o'));
}

test('reads sections, symbols and relocations of a gcc object', () => {
  const elf = parseElf(compileObject());
  const text = elf.sectionByName('.text.greeting');
  assert.ok(text, 'per-function section present');
  assert.equal(text.type, SHT.PROGBITS);
  const symbols = elf.symbols();
  const greeting = symbols.find((s) => s.name === 'greeting');
  assert.ok(greeting);
  assert.equal(greeting.type, STT.FUNC);
  assert.equal(greeting.shndx, text.index);
  assert.ok(greeting.size > 0);
  const rela = elf.sectionByName('.rela.text.extern_user');
  assert.ok(rela);
  const targets = elf.relocations(rela).map((r) => symbols[r.symbol].name);
  assert.ok(targets.includes('puts'), `relocations name puts: ${targets.join(',')}`);
  assert.ok(targets.includes('greeting'));
});

test('a truncated file is an ElfFormatError, not a crash', () => {
  const whole = compileObject();
  for (const length of [0, 10, 63, 200, Math.floor(whole.length / 2)]) {
    assert.throws(() => parseElf(whole.subarray(0, length)), ElfFormatError, `length ${length}`);
  }
  assert.throws(() => parseElf(Buffer.from('#!/bin/sh\necho not elf\n'.padEnd(128))), /no ELF magic/);
});
