// Run-pre against a stand-in for the running kernel: an object linked at the kernel's link address (relocations
// applied, like vmlinux), read as a vmlinux file, with nm's symbol list shifted by a KASLR slide as its kallsyms.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffObjects } from '../../../src/build/diff';
import { runPreCheck } from '../../../src/build/runpre';
import { vmlinuxFileSource } from '../../../src/build/runpre-sources';
import { isSplicedError } from '../../../src/errors';
import type { Tree } from '../../../src/build/tree';
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
