// Module generation's extract step on small gcc-12 units (no kernel tree): what the changed code needs travels with
// it, new globals resolve across the patch's units, and a module-target splice never depends on a module.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffObjects } from '../../../src/build/differ/diff';
import { findProblems } from '../../../src/build/differ/safety';
import { extractPatch, Extracted } from '../../../src/build/module/extract';
import { buildLivepatchModule } from '../../../src/build/module/link';
import { kernelSymbols } from '../../../src/build/module/symbols';
import { parseElf, SHN, STB, STT } from '../../../src/elf/reader';
import { compile } from './gcc';

const SYMVERS = [
  '0x0\t__fentry__\tvmlinux\tEXPORT_SYMBOL\t',
  '0x1\treport\tvmlinux\tEXPORT_SYMBOL\t',
  '0x2\tcxl_helper\tvmlinux\tEXPORT_SYMBOL_GPL\tCXL',
  '0x3\tjbd2_start\tfs/jbd2/jbd2\tEXPORT_SYMBOL\t',
  '0x4\text4_shared\tfs/ext4/ext4\tEXPORT_SYMBOL\t',
].join('\n');

/** A kallsyms listing of `names` in `object` ("vmlinux" or a module). */
function kallsyms(object: string, names: string[]): string {
  const tag = object === 'vmlinux' ? '' : `\t[${object}]`;
  return names.map((n, i) => `${(0xffffffff81000000n + BigInt(i * 16)).toString(16)} T ${n}${tag}`).join('\n');
}

// What WARN_ON() emits: a __bug_table entry naming the file through a string literal, which the assembler keeps as a
// local label (.LC0) because the entry refers to a mergeable section. Entries are 12 bytes: code, file, line, flags.
const BUG_SITE = `asm volatile("1:\\n.pushsection __bug_table,\\"aw\\"\\n.long 1b - .\\n.long %c0 - .\\n.word 42\\n.word 0\\n.popsection" :: "i"("fs/unit.c"));`;
const BASE = `extern int report(const char *fmt, ...);\nint first(int x) { return report("first %d\\n", x); }\n`;
const WITH_BUG = BASE.replace('int first(int x) {', `int first(int x) { ${BUG_SITE}`);

function extract(units: { pre: string; post: string; target: string }[], listing: string): Extracted[] {
  const kernel = kernelSymbols(SYMVERS, listing);
  return extractPatch(units.map((u) => ({ diff: diffObjects(compile(u.pre), compile(u.post)), target: u.target })), kernel);
}

/** Section name and text of what each relocation of `section` in an extracted object points to. */
function relocationTargets(part: Extracted, section: string): { symbol: string; sectionName?: string; text?: string }[] {
  const elf = parseElf(part.object);
  const rela = elf.sections.find((s) => s.name === `.rela${section}`);
  assert.ok(rela, `${section} has no relocations in the extracted object`);
  const symbols = elf.symbols();
  return elf.relocations(rela).map((r) => {
    const s = symbols[r.symbol];
    if (s.type !== STT.SECTION) return { symbol: s.name };
    const target = elf.sections[s.shndx];
    return { symbol: '', sectionName: target.name, text: elf.sectionData(target).toString('latin1') };
  });
}

for (const target of ['vmlinux', 'ext4']) {
  test(`a __bug_table entry's string literal (.LC label) is copied into the splice (${target} target)`, () => {
    const [part] = extract([{ pre: BASE, post: WITH_BUG, target }], kallsyms(target, ['first', 'report']));
    assert.deepEqual(part.functions.map((f) => f.oldName), ['first']);
    const [site, file] = relocationTargets(part, '__bug_table');
    assert.equal(site.symbol, '__spliced_first');
    assert.ok(file.text?.includes('fs/unit.c'), `the file name points at ${JSON.stringify(file)}`);
    assert.ok(!part.klpRelocations.some((r) => r.symbol.includes('.LC')), JSON.stringify(part.klpRelocations));
  });
}

test('a new global function added in one unit and called from another links inside the splice', () => {
  const parts = extract(
    [
      { pre: 'int a(int x) { return x; }\n', post: 'int a(int x) { return x; }\nint helper(int x) { return x * 3; }\nint counter = 5;\n', target: 'vmlinux' },
      { pre: 'int b(int x) { return x + 1; }\n', post: 'extern int helper(int); extern int counter;\nint b(int x) { return helper(x) + counter; }\n', target: 'vmlinux' },
    ],
    kallsyms('vmlinux', ['a', 'b']),
  );
  const defined = (part: Extracted) => parseElf(part.object).symbols().filter((s) => s.shndx !== SHN.UNDEF && s.bind === STB.GLOBAL).map((s) => s.name);
  const undefinedIn = (part: Extracted) => parseElf(part.object).symbols().filter((s) => s.shndx === SHN.UNDEF && s.name !== '').map((s) => s.name);
  assert.ok(defined(parts[0]).includes('__spliced_helper') && defined(parts[0]).includes('__spliced_counter'), defined(parts[0]).join(' '));
  assert.deepEqual(undefinedIn(parts[1]).filter((n) => !n.startsWith('__fentry')).sort(), ['__spliced_counter', '__spliced_helper']);
  assert.deepEqual(parts[1].klpRelocations, []);
});

test("a module-target splice reaches modules' symbols, exported or not, through livepatch relocations only", () => {
  const pre = `extern int report(const char *, ...);\nint first(int x) { return report("x", x); }\n`;
  const post = `extern int report(const char *, ...); extern int jbd2_start(int); extern int ext4_shared(int); extern int cxl_helper(int);
extern int ext4_private(int);
int first(int x) { return report("x", x) + jbd2_start(x) + ext4_shared(x) + cxl_helper(x) + ext4_private(x); }\n`;
  const [part] = extract([{ pre, post, target: 'ext4' }], kallsyms('ext4', ['first', 'ext4_shared', 'ext4_private']));
  assert.deepEqual(part.klpRelocations.map((r) => r.symbol).sort(), ['.klp.sym.ext4.ext4_private,0', '.klp.sym.ext4.ext4_shared,0', '.klp.sym.jbd2.jbd2_start,0']);
  const undefinedNames = parseElf(part.object).symbols().filter((s) => s.shndx === SHN.UNDEF && s.name !== '').map((s) => s.name).sort();
  assert.deepEqual(undefinedNames, ['__fentry__', 'cxl_helper', 'report']);
  assert.deepEqual(part.namespaces, ['CXL']);
});

/** A jump-label site as objtool leaves it (`site`: the NOP it wrote), on `key`, with the entry's flag bits. */
function staticBranch(site: string, key: string, flags: number): string {
  return `asm goto("1: .byte ${site}\\n.pushsection __jump_table,\\"aw\\"\\n.balign 8\\n.long 1b - ., %l[l_yes] - .\\n.quad %c0 + %c1 - .\\n.popsection" :: "i"(&${key}), "i"(${flags}) :: l_yes);`;
}
const KEYS = 'extern struct { int enabled; } my_key, shared_key;';
const PRE = `extern int report(const char *, ...); ${KEYS}\nint first(int x) { return report("x", x); }\n`;
const withBranch = (site: string, key: string, flags: number) =>
  PRE.replace('{ return report("x", x); }', `{ ${staticBranch(site, key, flags)} return report("x", x); l_yes: return report("y", x); }`);
const NOP5 = '0x0f, 0x1f, 0x44, 0x00, 0x00';

for (const branch of [0, 1]) {
  test(`a static branch (branch bit ${branch}) on a module's own key becomes a jump to a stub that tests the key`, () => {
    const [part] = extract([{ pre: PRE, post: withBranch(NOP5, 'my_key', 2 | branch), target: 'ext4' }], kallsyms('ext4', ['first', 'my_key']));
    const elf = parseElf(part.object);
    assert.equal(elf.sectionByName('__jump_table'), undefined, 'the entry naming the module key is left out');
    const stubs = elf.sectionByName('.text.__spliced_static_branches');
    assert.ok(stubs, 'a stub section');
    const stub = elf.sectionData(stubs);
    assert.equal(stub.length, 18);
    assert.deepEqual([...stub.subarray(0, 2)], [0x83, 0x3d], 'cmpl $0, key(%rip)');
    assert.deepEqual([...stub.subarray(7, 9)], [0x0f, branch ? 0x8e : 0x8f], branch ? 'jle: taken while the key is off' : 'jg: taken while the key is on');
    assert.equal(stub[13], 0xe9, 'jmp back after the site');
    const keyRead = part.klpRelocations.find((r) => r.section === '.text.__spliced_static_branches');
    assert.deepEqual(keyRead && { ...keyRead }, { section: '.text.__spliced_static_branches', offset: 2n, type: 2, addend: -5n, symbol: '.klp.sym.ext4.my_key,0' });
    // The site: a jmp whose displacement is a relocation to the stub; the stub's jumps go to the target and back.
    const text = elf.sectionByName('.text.__spliced_first')!;
    const code = elf.sectionData(text);
    const symbols = elf.symbols();
    const siteRelocations = elf.relocations(elf.sectionByName('.rela.text.__spliced_first')!).filter((r) => elf.sections[symbols[r.symbol].shndx]?.name === '.text.__spliced_static_branches');
    assert.equal(siteRelocations.length, 1);
    assert.equal(code[Number(siteRelocations[0].offset) - 1], 0xe9, 'the site is now a 5-byte jmp');
    const stubRelocations = elf.relocations(elf.sectionByName('.rela.text.__spliced_static_branches')!);
    assert.deepEqual(stubRelocations.map((r) => [Number(r.offset), symbols[r.symbol].name]), [[9, '__spliced_first'], [14, '__spliced_first']]);
    const back = stubRelocations[1];
    assert.equal(back.addend, siteRelocations[0].offset - 1n + 5n - 4n, 'back to the instruction after the site');
  });
}

test('a static branch at a 2-byte site on a module key grows to 5 bytes, and the code after it moves along', () => {
  const post = withBranch('0x66, 0x90', 'my_key', 2);
  const original = parseElf(compile(post));
  const source = original.sectionByName('.text.first')!;
  const before = original.sectionData(source);
  const site = before.indexOf(Buffer.from([0x66, 0x90]));
  const [part] = extract([{ pre: PRE, post, target: 'ext4' }], kallsyms('ext4', ['first', 'my_key']));
  const elf = parseElf(part.object);
  const code = elf.sectionData(elf.sectionByName('.text.__spliced_first')!);
  assert.deepEqual(code, Buffer.concat([before.subarray(0, site), Buffer.from([0xe9, 0, 0, 0, 0]), before.subarray(site + 2)]), 'the site is a 5-byte jmp, the rest follows it');
  const moved = (offset: bigint) => (offset > BigInt(site) ? offset + 3n : offset);
  const relocations = elf.relocations(elf.sectionByName('.rela.text.__spliced_first')!).map((r) => r.offset).sort();
  const expected = [...original.relocations(original.sections.find((s) => s.name === '.rela.text.first')!).map((r) => moved(r.offset)), BigInt(site + 1)].sort();
  assert.deepEqual(relocations, expected, 'relocations moved along; the site has the one to its stub');
  const symbols = elf.symbols();
  const stub = elf.relocations(elf.sectionByName('.rela.text.__spliced_static_branches')!).map((r) => [symbols[r.symbol].name, r.addend]);
  const yes = original.relocations(original.sections.find((s) => s.name === '.rela__jump_table')!)[1].addend;
  assert.deepEqual(stub, [['__spliced_first', moved(yes) - 4n], ['__spliced_first', BigInt(site + 5 - 4)]], "the stub's jumps land where the target and the next instruction went");
});

test('a static branch on a vmlinux export stays a jump label: the module loader resolves the key', () => {
  const [part] = extract([{ pre: PRE, post: withBranch(NOP5, 'report', 2), target: 'ext4' }], kallsyms('ext4', ['first']));
  const elf = parseElf(part.object);
  assert.ok(elf.sectionByName('__jump_table'));
  assert.equal(elf.sectionByName('.text.__spliced_static_branches'), undefined);
});

test('linked by kbuild, a module-target splice using module exports and a namespaced vmlinux export depends on no module', async (t) => {
  const headers = '/usr/src/linux-headers-6.1.0-56-amd64';
  assert.ok(existsSync(headers), `${headers} is missing: install linux-headers-6.1.0-56-amd64 (scripts/host-packages.txt)`);
  const pre = `extern int _printk(const char *, ...);\nint first(int x) { return _printk("x %d", x); }\n`;
  const post = `extern int _printk(const char *, ...); extern void *jbd2_journal_start(void *, int); extern int insert_resource_expand_to_fit(void *, void *);
int first(int x) { return _printk("x %d", x) + !!jbd2_journal_start(0, x) + insert_resource_expand_to_fit(0, 0); }\n`;
  const kernel = kernelSymbols(readFileSync(join(headers, 'Module.symvers'), 'utf8'), kallsyms('ext4', ['first']));
  const parts = extractPatch([{ diff: diffObjects(compile(pre), compile(post)), target: 'ext4' }], kernel);
  const ko = await buildLivepatchModule({ name: 'spliced_test_depends', parts, headersDir: headers, patchSha256: '0'.repeat(64), buildId: 'x' });
  const dir = mkdtempSync(join(tmpdir(), 'extract-depends-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'splice.ko'), ko);
  const field = (name: string) => execFileSync('modinfo', ['-F', name, join(dir, 'splice.ko')], { encoding: 'utf8' }).trim();
  assert.equal(field('depends'), '');
  assert.equal(field('import_ns'), 'CXL');
  assert.deepEqual(parts[0].klpRelocations.map((r) => r.symbol), ['.klp.sym.jbd2.jbd2_journal_start,0']);
});

test('a new per-cpu variable stays per-cpu: the module loader allocates the splice its .data..percpu', () => {
  const pre = `int first(int x) { return x; }\n`;
  const post = `static __attribute__((section(".data..percpu"))) int hits;\nint first(int x) { int v; asm("movl %%gs:%1, %0" : "=r"(v) : "m"(hits)); return x + v; }\n`;
  const [part] = extract([{ pre, post, target: 'vmlinux' }], kallsyms('vmlinux', ['first']));
  const elf = parseElf(part.object);
  const hits = elf.symbols().find((s) => s.name === 'hits');
  assert.ok(hits, 'the variable is copied');
  assert.equal(elf.sections[hits.shndx].name, '.data..percpu');
});

// A function-local constant table (a DMI match list, a lookup table): its new value travels with the code using it.
const TABLE = (values: string, alsoUsedBy = '', heldBy = '') => `extern int report(const char *fmt, ...);
int pick(int i) { static const int table[4] = { ${values} }; extern const int *shared; ${alsoUsedBy ? 'shared = table;' : ''} return report("%d", table[i & 3]); }
${heldBy}`;

test('a changed constant table only the changed function uses is carried into the splice, not refused', () => {
  const pre = compile(TABLE('1, 2, 3, 4'));
  const post = compile(TABLE('1, 2, 3, 5'));
  const diff = diffObjects(pre, post);
  assert.deepEqual(findProblems(diff), []);
  const [part] = extractPatch([{ diff, target: 'vmlinux' }], kernelSymbols(SYMVERS, kallsyms('vmlinux', ['pick', 'report', 'table.0'])));
  assert.deepEqual(part.functions.map((f) => f.oldName), ['pick']);
  assert.ok(!part.klpRelocations.some((r) => r.symbol.includes('table')), JSON.stringify(part.klpRelocations));
  const elf = parseElf(part.object);
  const copy = elf.sections.find((s) => s.name.startsWith('.rodata.__spliced_table'));
  assert.ok(copy, elf.sections.map((s) => s.name).join(' '));
  assert.deepEqual([...elf.sectionData(copy!)].filter((_, i) => i % 4 === 0), [1, 2, 3, 5]);
});

test('a changed constant table that other data holds stays a data-init refusal', () => {
  const held = (values: string) => `static const int table[2] = { ${values} };\nconst int *const holder = table;\nextern int report(const char *fmt, ...);\nint pick(int i) { return report("%d", table[i & 1]); }\n`;
  const diff = diffObjects(compile(held('1, 2')), compile(held('1, 3')));
  assert.deepEqual(findProblems(diff).map((p) => p.reason), ['data-init']);
});
