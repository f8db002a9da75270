// A local name the target has twice, referenced only by patched code (so run-pre has no running address for it), on
// real objects: Debian's fix of arch/x86/mm/ident_map.c in 6.1.190-1 (the corpus of docs/build.md, `ident_map.patch`
// here), which calls the out-of-line `static inline pgd_none`; Debian 6.1.0-53's vmlinux has two local pgd_none, of
// init_64.c (ident_map.c is #included there) and of memory.c. The pair is arch/x86/mm/init_64.o as `spliced build pairs
// --kernel-release 6.1.0-53-amd64 ident_map.patch` compiled it, `objcopy --strip-debug --keep-symbol=init_64.c` (the
// file symbol is what tells the unit). No apt, no tree: run-pre runs against the pre object linked at the kernel's
// address by ld (as runpre.test.ts does with a tree's objects).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffObjects } from '../../../src/build/differ/diff';
import { lineMapOf } from '../../../src/build/differ/lines';
import { assertPatchable } from '../../../src/build/differ/safety';
import { extractPatch } from '../../../src/build/module/extract';
import { kernelSymbols, parseSameNamed, withFiles, withFileSymbols } from '../../../src/build/module/symbols';
import { runPreCheck } from '../../../src/build/runpre/check';
import { vmlinuxFileSource } from '../../../src/build/runpre/sources';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { parseElf, STT } from '../../../src/elf/reader';
import { isSplicedError } from '../../../src/errors';
import { PAIRS_DIR } from '../../fixtures/pairs/make';

const DIR = join(PAIRS_DIR, 'corpus-ident-map');
const pre = readFileSync(join(DIR, 'arch__x86__mm__init_64.o.pre.o'));
const post = readFileSync(join(DIR, 'arch__x86__mm__init_64.o.post.o'));
const patch = parsePatch(readFileSync(join(DIR, 'ident_map.patch'), 'utf8'));
const diff = diffObjects(pre, post, { lineMap: lineMapOf(patch.files[0].diff) });

// 6.1.0-53's two pgd_none (System.map addresses), and one entry for every other name the objects use: kallsyms of a
// kernel booted with a KASLR slide.
const SLIDE = 0x1c000000n;
const PGD_NONE = [0xffffffff81085510n, 0xffffffff812c6cf0n];
function kallsyms(): string {
  const names = new Set<string>();
  for (const obj of [pre, post]) for (const s of parseElf(obj).symbols()) if (s.name && s.type !== STT.SECTION && s.type !== STT.FILE) names.add(s.name);
  names.delete('pgd_none');
  let address = 0xffffffff81000000n;
  const lines = [...names].map((name) => `${(address += 0x100n).toString(16)} t ${name}`);
  return [...lines, ...PGD_NONE.map((a) => `${(a + SLIDE).toString(16)} t pgd_none`)].join('\n');
}
const running = kernelSymbols('', kallsyms());

const klpSymbols = (symbols: typeof running) => extractPatch([{ diff, target: 'vmlinux' }], symbols)[0].klpRelocations.map((r) => r.symbol);

test('the fix replaces ident_pud_init, whose new code calls the local pgd_none', () => {
  assertPatchable([diff]);
  assert.deepEqual(diff.functions.filter((f) => f.status !== 'unchanged').map((f) => `${f.name}:${f.status}`), ['ident_pud_init:changed']);
});

test('without the units of vmlinux\'s locals, the pgd_none the code means is unknown: refused, not guessed', () => {
  assert.throws(
    () => klpSymbols(running),
    (e) => isSplicedError(e, 'UnsafePatch') && e.details.reason === 'ambiguous-symbol' && e.details.symbol === 'pgd_none' && /init_64\.c/.test(e.message),
  );
});

test("with them (the -dbg vmlinux's file symbols), the reference is to init_64.c's pgd_none, at its kallsyms position", () => {
  const sameNamed = (files: string[]) => parseSameNamed(PGD_NONE.map((a, i) => `pgd_none\t${a.toString(16)}\tt\t${files[i]}`).join('\n') + '\n');
  const asDebian = klpSymbols(withFileSymbols(running, new Map([['vmlinux', sameNamed(['init_64.c', 'memory.c'])]])));
  assert.ok(asDebian.includes('.klp.sym.vmlinux.pgd_none,1'), JSON.stringify(asDebian));
  // The position follows the unit, not a default: with the units the other way round, the second one.
  const swapped = klpSymbols(withFileSymbols(running, new Map([['vmlinux', sameNamed(['memory.c', 'init_64.c'])]])));
  assert.ok(swapped.includes('.klp.sym.vmlinux.pgd_none,2'), JSON.stringify(swapped));
});

/** The pre object linked at the kernel's address, as a vmlinux file, and its kallsyms slid by KASLR. */
function linkedPre(): { image: Buffer; kallsyms: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sympos-pair-'));
  writeFileSync(join(dir, 'pre.o'), pre);
  execFileSync('ld', ['-o', 'vmlinux', '-Ttext=0xffffffff81000000', '--unresolved-symbols=ignore-all', '-e', '0', '--defsym', '_text=0xffffffff81000000', 'pre.o'], { cwd: dir, stdio: 'ignore' });
  const nm = execFileSync('nm', ['-n', 'vmlinux'], { cwd: dir, encoding: 'utf8' });
  const image = readFileSync(join(dir, 'vmlinux'));
  rmSync(dir, { recursive: true, force: true });
  const kallsyms = nm
    .split('\n')
    .filter((l) => /^[0-9a-f]{16} [tTdDbBrRA] /.test(l))
    .map((l) => `${(BigInt('0x' + l.slice(0, 16)) + SLIDE).toString(16)}${l.slice(16)}`)
    .join('\n');
  return { image, kallsyms };
}

test("run-pre: a reference to a local the kernel has twice must reach the one of the object's unit, where the units are known", () => {
  const { image, kallsyms } = linkedPre();
  // ident_pud_init (pre) refers to the local ident_pmd_init; a second ident_pmd_init, another unit's, comes first.
  const own = BigInt('0x' + /^([0-9a-f]+) t ident_pmd_init$/m.exec(kallsyms)![1]);
  const running = vmlinuxFileSource(image, `${(own - 0x800000n).toString(16)} t ident_pmd_init\n${kallsyms}`);
  const withUnits = (files: string[]) => ({
    ...running,
    entriesOf: withFiles(running.entriesOf, new Map([['vmlinux', parseSameNamed(files.map((f, i) => `ident_pmd_init\t${i}\tt\t${f}`).join('\n') + '\n')]])),
  });
  // Units unknown: either one would do, and the running code's address says which.
  assert.equal(runPreCheck(diff, 'vmlinux', running).observed.get('ident_pmd_init'), own);
  assert.equal(runPreCheck(diff, 'vmlinux', withUnits(['memory.c', 'init_64.c'])).observed.get('ident_pmd_init'), own);
  // Known, and the running code reaches the other unit's: not the source of this kernel.
  assert.throws(
    () => runPreCheck(diff, 'vmlinux', withUnits(['init_64.c', 'memory.c'])),
    (e) => isSplicedError(e, 'RunPreMismatch') && e.details.function === 'ident_pud_init' && /ident_pmd_init differs/.test(e.message),
  );
});
