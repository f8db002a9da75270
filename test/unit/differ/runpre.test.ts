// Run-pre against a stand-in for the running kernel: an object linked at the kernel's link address (relocations
// applied, like vmlinux), read as a vmlinux file, with nm's symbol list shifted by a KASLR slide as its kallsyms.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffObjects } from '../../../src/build/differ/diff';
import { loadObject, relocationsWithin } from '../../../src/build/differ/object';
import { targetModuleFiles } from '../../../src/build/tree/target-image';
import { decodeInstruction } from '../../../src/elf/x86-decode';
import { relocationWidth } from '../../../src/elf/x86';
import { runPreCheck } from '../../../src/build/runpre/check';
import { vmlinuxFileSource } from '../../../src/build/runpre/sources';
import { isSplicedError } from '../../../src/errors';
import type { Tree } from '../../../src/build/tree/tree';
import { fixtureTree } from '../build/kernel-tree';
import { compileKernelObject } from './kernel-corpus';

let tree: Tree;
before(async () => {
  tree = await fixtureTree();
});
const MEMINFO = 'fs/proc/meminfo.c';
const LINK_ADDRESS = 0xffffffff81000000n;
const SLIDE = 0x1e600000n;

/** Links `object` at the kernel's address; returns the image and its kallsyms as the running, slid kernel shows it. */
function runningImage(object: Buffer): { image: Buffer; kallsyms: string } {
  const dir = mkdtempSync(join(tmpdir(), 'runpre-'));
  writeFileSync(join(dir, 'running.o'), object);
  execFileSync('ld', ['-o', 'vmlinux', `-Ttext=0x${LINK_ADDRESS.toString(16)}`, '--unresolved-symbols=ignore-all', '-e', '0', '--defsym', `_text=0x${LINK_ADDRESS.toString(16)}`, 'running.o'], { cwd: dir, stdio: 'ignore' });
  const nm = execFileSync('nm', ['-n', 'vmlinux'], { cwd: dir, encoding: 'utf8' });
  const kallsyms = nm
    .split('\n')
    .filter((l) => /^[0-9a-f]{16} [tTdDbBrRA] /.test(l))
    .map((l) => `${(BigInt('0x' + l.slice(0, 16)) + SLIDE).toString(16)}${l.slice(16)}`)
    .join('\n');
  const image = readFileSync(join(dir, 'vmlinux'));
  rmSync(dir, { recursive: true, force: true });
  return { image, kallsyms };
}

const edit = { file: MEMINFO, from: 'seq_put_decimal_ull_width(m, s, num << (PAGE_SHIFT - 10), 8);', to: 'seq_put_decimal_ull_width(m, s, num << (PAGE_SHIFT - 10), 9);' };

test('the pre build matches the running code (relocations verified through KASLR)', () => {
  const CORE = 'kernel/sched/core.c';
  const pre = compileKernelObject(tree, CORE);
  const post = compileKernelObject(tree, CORE, [{ file: CORE, from: /(void scheduler_tick\(void\)\n\{[^]*?\n)(\tsched_clock_tick\(\);)/, to: '$1\tpr_info_once("spliced tick\\n");\n$2' }]);
  const diff = diffObjects(pre, post);
  const { image, kallsyms } = runningImage(pre);
  const result = runPreCheck(diff, 'vmlinux', vmlinuxFileSource(image, kallsyms));
  assert.deepEqual(result.functions.map((f) => [f.name, f.sympos]), [['scheduler_tick', 0]]);
  assert.ok(result.functions[0].address > LINK_ADDRESS + SLIDE);
  // What the running code refers to was checked against kallsyms: per-CPU runqueues, local functions, ...
  assert.ok(result.observed.has('runqueues'), [...result.observed.keys()].join(','));
});

test('of several same-named running functions, the one whose code matches gives the sympos', () => {
  const CORE = 'kernel/sched/core.c';
  const pre = compileKernelObject(tree, CORE);
  const post = compileKernelObject(tree, CORE, [{ file: CORE, from: /(void scheduler_tick\(void\)\n\{[^]*?\n)(\tsched_clock_tick\(\);)/, to: '$1\tpr_info_once("spliced tick\\n");\n$2' }]);
  const { image, kallsyms } = runningImage(pre);
  // Another file's scheduler_tick, listed first: its code (that of sched_tick_remote here) differs.
  const other = /^([0-9a-f]+) t sched_tick_remote$/m.exec(kallsyms)![1];
  const result = runPreCheck(diffObjects(pre, post), 'vmlinux', vmlinuxFileSource(image, `${other} t scheduler_tick\n${kallsyms}`));
  assert.deepEqual(result.functions.map((f) => [f.name, f.sympos]), [['scheduler_tick', 2]]);
});

test('a running kernel built from other source is a RunPreMismatch', () => {
  const pre = compileKernelObject(tree, MEMINFO);
  const other = compileKernelObject(tree, MEMINFO, [{ ...edit, to: edit.to.replace('9);', '10);') }]);
  const diff = diffObjects(pre, compileKernelObject(tree, MEMINFO, [edit]));
  const { image, kallsyms } = runningImage(other);
  assert.throws(
    () => runPreCheck(diff, 'vmlinux', vmlinuxFileSource(image, kallsyms)),
    (e) => isSplicedError(e, 'RunPreMismatch') && e.details.function === 'meminfo_proc_show' && typeof e.details.offset === 'number',
  );
});

test('decoding every function of real kernel objects lands on each function end, with every relocation inside one instruction', async () => {
  const objects = [compileKernelObject(tree, 'kernel/sched/core.c'), compileKernelObject(tree, MEMINFO), (await targetModuleFiles(tree, ['ext4'])).get('ext4')!];
  let functions = 0;
  for (const bytes of objects) {
    const obj = loadObject(bytes);
    for (const fn of obj.functions.filter((f) => f.size > 0)) {
      const code = obj.elf.sectionData(obj.sections[fn.shndx]).subarray(Number(fn.value), Number(fn.value) + fn.size);
      const starts: [number, number][] = [];
      for (let at = 0; at < fn.size; ) {
        const insn = decodeInstruction(code, at);
        assert.ok(insn, `${fn.name}+0x${at.toString(16)} decodes`);
        starts.push([at, insn.length]);
        at += insn.length;
        if (at > fn.size) assert.fail(`${fn.name}: the last instruction runs past the end`);
      }
      for (const r of relocationsWithin(obj, fn.shndx, fn.value, fn.value + BigInt(fn.size))) {
        const at = Number(r.offset - fn.value);
        const insn = starts.find(([start, length]) => start < at && at + relocationWidth(r.type) <= start + length);
        assert.ok(insn, `${fn.name}: the relocation at +0x${at.toString(16)} lies inside an instruction`);
      }
      functions++;
    }
  }
  assert.ok(functions > 1500, `${functions} functions`);
});
