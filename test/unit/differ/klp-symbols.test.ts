import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSymbols, formatSameNamed, kernelSymbols, KernelSymbols, parseSameNamed, symposOf, withFileSymbols } from '../../../src/build/module/symbols';
import { isSplicedError } from '../../../src/errors';

const KALLSYMS = [
  'ffffffff81000100 t show_val 	',
  'ffffffff81000200 T unique_fn',
  'ffffffff81000300 t dup',
  'ffffffff81000400 T dup',
  'ffffffff81000500 t dup',
  'ffffffffc0000100 t dup\t[ext4]',
].join('\n');
const symbols = kernelSymbols('0x1\texported_fn\tvmlinux\tEXPORT_SYMBOL\t\n', KALLSYMS);
const withModuleFiles = (known: KernelSymbols, modules: Map<string, Buffer>) => withFileSymbols(known, new Map([...modules].map(([m, ko]) => [m, fileSymbols(ko)])));

test('exports come from Module.symvers', () => {
  assert.deepEqual(symbols.exportOf('exported_fn'), { object: 'vmlinux' });
  assert.equal(symbols.exportOf('unique_fn'), undefined);
});

test('sympos: 0 when unique in the object, else the 1-based kallsyms position', () => {
  assert.equal(symposOf(symbols, 'vmlinux', 'unique_fn'), 0);
  assert.equal(symposOf(symbols, 'ext4', 'dup'), 0, 'a module counts only its own symbols');
  assert.equal(symposOf(symbols, 'vmlinux', 'dup', { address: 0xffffffff81000500n }), 3);
  assert.equal(symposOf(symbols, 'vmlinux', 'dup', { global: true }), 2, 'the one global among same-named locals');
});

test('an ambiguous local or a missing name is refused, never guessed', () => {
  assert.throws(() => symposOf(symbols, 'vmlinux', 'dup'), (e) => isSplicedError(e, 'UnsafePatch') && e.details.reason === 'ambiguous-symbol');
  assert.throws(() => symposOf(symbols, 'vmlinux', 'nowhere'), (e) => isSplicedError(e, 'UnresolvedSymbol'));
});

test('without any symbol list of the target, sympos 0 leaves resolution (or a clean refusal) to the kernel', () => {
  assert.equal(symposOf(kernelSymbols('', ''), 'vmlinux', 'anything'), 0);
  assert.equal(symposOf(symbols, 'xfs', 'anything'), 0, 'a module kallsyms does not list');
});

test('a module that is not loaded is counted in its .ko symbol table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-symbols-'));
  for (const unit of ['a', 'b']) {
    writeFileSync(join(dir, `${unit}.c`), `static int __attribute__((noinline)) helper(int x) { return x * ${unit === 'a' ? 3 : 5}; }\nint use_${unit}(int x) { return helper(x); }\n`);
    execFileSync('gcc-12', ['-O2', '-c', `${unit}.c`], { cwd: dir });
  }
  execFileSync('ld', ['-r', '-o', 'mod.ko', 'a.o', 'b.o'], { cwd: dir });
  const withFile = withModuleFiles(symbols, new Map([['mod', readFileSync(join(dir, 'mod.ko'))]]));
  rmSync(dir, { recursive: true, force: true });
  const helpers = withFile.entriesOf('mod', 'helper');
  assert.equal(helpers.length, 2);
  assert.equal(symposOf(withFile, 'mod', 'helper', { address: helpers[1].address }), 2);
  assert.equal(symposOf(withFile, 'mod', 'use_b'), 0);
  assert.deepEqual(withFile.entriesOf('vmlinux', 'dup').length, 3, 'loaded objects still come from kallsyms');
});

test("same-named locals of one module are told apart by the translation unit they come from (the .ko's file symbols)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-symbols-'));
  for (const unit of ['a', 'b']) {
    writeFileSync(join(dir, `${unit}.c`), `static int __attribute__((noinline)) helper(int x) { return x * ${unit === 'a' ? 3 : 5}; }\nint use_${unit}(int x) { return helper(x); }\n`);
    execFileSync('gcc-12', ['-O2', '-c', `${unit}.c`], { cwd: dir });
  }
  execFileSync('ld', ['-r', '-o', 'mod.ko', 'a.o', 'b.o'], { cwd: dir });
  const ko = readFileSync(join(dir, 'mod.ko'));
  rmSync(dir, { recursive: true, force: true });
  const notLoaded = withModuleFiles(symbols, new Map([['mod', ko]]));
  assert.equal(symposOf(notLoaded, 'mod', 'helper', { file: 'a.c' }), 1);
  assert.equal(symposOf(notLoaded, 'mod', 'helper', { file: 'b.c' }), 2);
  // Loaded, kallsyms lists the module's symbols in the same order; the .ko still says which file each one is from.
  const live = kernelSymbols('', 'ffffffffc0001000 t helper\t[mod]\nffffffffc0002000 t helper\t[mod]\n');
  assert.equal(symposOf(withModuleFiles(live, new Map([['mod', ko]])), 'mod', 'helper', { file: 'b.c' }), 2);
});

test("same-named locals of vmlinux are told apart by the file symbols of its symbol table (the -dbg vmlinux), counted in address order", () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-symbols-'));
  for (const unit of ['a', 'b']) {
    writeFileSync(join(dir, `${unit}.c`), `static int __attribute__((noinline)) helper(int x) { return x * ${unit === 'a' ? 3 : 5}; }\nint use_${unit}(int x) { return helper(x); }\n`);
    execFileSync('gcc-12', ['-O2', '-fno-pic', '-c', `${unit}.c`], { cwd: dir });
  }
  // b's code first in memory, a's symbols first in the symbol table: kallsyms order is the address order.
  writeFileSync(join(dir, 'link.lds'), 'SECTIONS { . = 0x1000000; .text : { b.o(.text) a.o(.text) } }\n');
  execFileSync('ld', ['-e', 'use_a', '-T', 'link.lds', '-o', 'vmlinux', 'a.o', 'b.o'], { cwd: dir });
  const vmlinux = readFileSync(join(dir, 'vmlinux'));
  rmSync(dir, { recursive: true, force: true });
  const sameNamed = parseSameNamed(formatSameNamed(fileSymbols(vmlinux, 'address')));
  assert.deepEqual([...sameNamed.keys()], ['helper'], 'only names that occur more than once are kept');
  assert.deepEqual(sameNamed.get('helper')!.map((e) => e.file), ['b.c', 'a.c']);
  // kallsyms of the running kernel: the same two, moved by KASLR; matched by position, not address.
  const [first, second] = sameNamed.get('helper')!.map((e) => (e.address + 0x2000000n).toString(16));
  const running = kernelSymbols('', `${first} t helper\n${second} t helper\n`);
  assert.throws(() => symposOf(running, 'vmlinux', 'helper', { file: 'a.c' }), (e) => isSplicedError(e, 'UnsafePatch') && e.details.reason === 'ambiguous-symbol');
  const known = withFileSymbols(running, new Map([['vmlinux', sameNamed]]));
  assert.equal(symposOf(known, 'vmlinux', 'helper', { file: 'a.c' }), 2);
  assert.equal(symposOf(known, 'vmlinux', 'helper', { file: 'b.c' }), 1);
  assert.throws(() => symposOf(known, 'vmlinux', 'helper', { file: 'c.c' }), (e) => isSplicedError(e, 'UnsafePatch') && e.details.reason === 'ambiguous-symbol', 'a unit that has none is not guessed');
  // A list that counts differently (another build) says nothing.
  const other = withFileSymbols(kernelSymbols('', `${first} t helper\n${second} t helper\nffffffff83000000 t helper\n`), new Map([['vmlinux', sameNamed]]));
  assert.throws(() => symposOf(other, 'vmlinux', 'helper', { file: 'a.c' }), (e) => isSplicedError(e, 'UnsafePatch'));
});
