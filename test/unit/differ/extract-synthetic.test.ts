// Module generation's extract step on small gcc-12 units (no kernel tree): what the changed code needs travels with
// it, new globals resolve across the patch's units, and a module-target splice never depends on a module.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffObjects } from '../../../src/build/differ/diff';
import { extractPatch, Extracted } from '../../../src/build/module/extract';
import { buildLivepatchModule } from '../../../src/build/module/link';
import { kernelSymbols } from '../../../src/build/module/symbols';
import { parseElf, SHN, STB, STT } from '../../../src/elf/reader';
import { isSplicedError } from '../../../src/errors';
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

test("a jump label on a module's own key in a module-target splice is refused, naming the construct and the way around", () => {
  const jump = `asm goto("1: jmp %l[l_yes]\\n.pushsection __jump_table,\\"aw\\"\\n.long 1b - ., %l[l_yes] - .\\n.quad %c0 - .\\n.popsection" :: "i"(&my_key) :: l_yes);`;
  const pre = `extern int report(const char *, ...); extern struct { int e; } my_key;\nint first(int x) { return report("x", x); }\n`;
  const post = pre.replace('{ return report("x", x); }', `{ ${jump} return report("x", x); l_yes: return 0; }`);
  assert.throws(
    () => extract([{ pre, post, target: 'ext4' }], kallsyms('ext4', ['first', 'my_key'])),
    (err: unknown) =>
      isSplicedError(err, 'UnsafePatch') && err.details?.reason === 'special-section' && /static branch/.test(err.message) && /static_key_enabled/.test(err.message) && /my_key/.test(err.message),
  );
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
