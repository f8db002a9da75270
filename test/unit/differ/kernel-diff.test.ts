// Tree-dependent (the 6.1.0-56-amd64 tree, prepared on first use: apt and ≈ 1.7 GB); the same cases without a tree: committed-pairs.test.ts.
// The differ and safety analysis on real Debian 6.1 kernel objects: one edit per case, compiled during setup from the
// fixture kernel's tree with kbuild's exact command (see kernel-corpus.ts); the tree is prepared first if not cached.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { diffObjects, DiffResult } from '../../../src/build/differ/diff';
import { assertPatchable, findProblems } from '../../../src/build/differ/safety';
import { structLayoutProblems } from '../../../src/build/differ/safety-layout';
import { isSplicedError } from '../../../src/errors';
import { lineMapOf } from '../../../src/build/differ/lines';
import type { Tree } from '../../../src/build/tree/tree';
import { fixtureTree } from '../build/kernel-tree';
import { compileKernelObject, Edit, sourceDiffOf } from './kernel-corpus';

let tree: Tree;
before(async () => {
  tree = await fixtureTree();
});
const MEMINFO = 'fs/proc/meminfo.c';
const CORE = 'kernel/sched/core.c';

function diffOf(source: string, edits: Omit<Edit, 'file'>[]): DiffResult {
  const pre = compileKernelObject(tree, source);
  const post = compileKernelObject(tree, source, edits.map((e) => ({ ...e, file: source })));
  return diffObjects(pre, post);
}

function touched(diff: DiffResult): string[] {
  return diff.functions.filter((f) => f.status !== 'unchanged').map((f) => `${f.name}:${f.status}`).sort();
}

function reasonOf(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (isSplicedError(err, 'UnsafePatch')) return String(err.details.reason);
    if (isSplicedError(err)) return err.kind;
    throw err;
  }
  return 'patchable';
}

test('same-length string change: bytes and raw relocations are identical, the string is not', () => {
  const diff = diffOf(MEMINFO, [{ from: '"MemTotal:       "', to: '"MemTotaL:       "' }]);
  assert.deepEqual(touched(diff), ['meminfo_proc_show:changed']);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'patchable');
});

test('a change inside an inlined static helper changes its caller', () => {
  const diff = diffOf(MEMINFO, [{ from: 'seq_put_decimal_ull_width(m, s, num << (PAGE_SHIFT - 10), 8);', to: 'seq_put_decimal_ull_width(m, s, num << (PAGE_SHIFT - 10), 9);' }]);
  assert.deepEqual(touched(diff), ['meminfo_proc_show:changed']);
});

test('comment-only patch is NoChange (line numbers in __bug_table and symbol names are noise)', () => {
  const diff = diffOf(CORE, [{ from: 'void scheduler_tick(void)\n{', to: '/*\n * two more lines\n */\nvoid scheduler_tick(void)\n{' }]);
  assert.deepEqual(touched(diff), []);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'NoChange');
});

test('pr_info_once: renumbered statics match by their users, the .cold part belongs to its parent', () => {
  const diff = diffOf(CORE, [{ from: /(void scheduler_tick\(void\)\n\{[^]*?\n)(\tsched_clock_tick\(\);)/, to: '$1\tpr_info_once("spliced tick\\n");\n$2' }]);
  assert.deepEqual(touched(diff), ['scheduler_tick.cold:new', 'scheduler_tick:changed']);
  const changedData = diff.data.filter((d) => d.status !== 'unchanged').map((d) => `${d.name.replace(/\d+$/, 'N')}:${d.status}`);
  assert.deepEqual(changedData, ['__already_done.N:new']);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'patchable');
});

test('a function grouped in .sched.text is diffed by its own range; notrace is refused', () => {
  const diff = diffOf(CORE, [{ from: '\tcpu = smp_processor_id();\n\trq = cpu_rq(cpu);\n\tprev = rq->curr;\n', to: '\tcpu = smp_processor_id();\n\trq = cpu_rq(cpu);\n\tprev = rq->curr;\n\tif (READ_ONCE(prev->prio) == 12345)\n\t\tcpu_relax();\n' }]);
  const changed = touched(diff);
  assert.ok(changed.includes('__schedule:changed'), changed.join(' '));
  const otherSchedText = diff.functions.filter((f) => f.section === '.sched.text' && f.name !== '__schedule' && f.status !== 'unchanged');
  assert.deepEqual(otherSchedText.map((f) => f.name), []);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'not-traceable');
});

test('a changed initial value of existing data is refused as data-init', () => {
  const diff = diffOf(CORE, [{ from: 'const_debug unsigned int sysctl_sched_nr_migrate = SCHED_NR_MIGRATE_BREAK;', to: 'const_debug unsigned int sysctl_sched_nr_migrate = SCHED_NR_MIGRATE_BREAK + 1;' }]);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'data-init');
  assert.deepEqual(findProblems(diff).map((p) => p.symbol), ['sysctl_sched_nr_migrate']);
});

test('a resized existing variable is refused as data-layout', () => {
  const diff = diffOf(CORE, [{ from: 'static int num_cpus_frozen;', to: 'static long num_cpus_frozen;' }]);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'data-layout');
});

test('an __init change is refused as init', () => {
  const diff = diffOf(CORE, [{ from: /(void __init sched_init\(void\)\n\{[^]*?\n)(\twait_bit_init\(\);)/, to: '$1\tpr_info("spliced init\\n");\n$2' }]);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'init');
});

test('a new export is refused as exports', () => {
  const diff = diffOf(CORE, [{ from: 'EXPORT_SYMBOL(schedule);', to: 'EXPORT_SYMBOL(schedule);\nEXPORT_SYMBOL(scheduler_tick);' }]);
  assert.deepEqual(diff.exportsAdded, ['scheduler_tick']);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'exports');
});

test('a new function called by a changed one is new, its caller changed', () => {
  const diff = diffOf(MEMINFO, [
    { from: 'static int meminfo_proc_show(', to: 'static noinline void spliced_note(struct seq_file *m)\n{\n\tseq_puts(m, "Spliced:        1\\n");\n}\n\nstatic int meminfo_proc_show(' },
    { from: '\thugetlb_report_meminfo(m);', to: '\tspliced_note(m);\n\thugetlb_report_meminfo(m);' },
  ]);
  assert.deepEqual(touched(diff), ['meminfo_proc_show:changed', 'spliced_note:new']);
  assert.equal(reasonOf(() => assertPatchable([diff])), 'patchable');
});

test('a struct whose layout changes is found in the DWARF', async () => {
  const pre = compileKernelObject(tree, CORE);
  const post = compileKernelObject(tree, CORE, [{ file: CORE, from: 'struct migration_arg {\n', to: 'struct migration_arg {\n\tint spliced_extra;\n' }]);
  const problems = await structLayoutProblems({ object: 'kernel/sched/core.o', pre, post });
  // set_affinity_pending embeds a migration_arg: its layout changes too.
  assert.deepEqual(problems.map((p) => `${p.reason}:${p.symbol}`), ['struct-layout:struct migration_arg', 'struct-layout:struct set_affinity_pending']);
  assert.deepEqual(await structLayoutProblems({ object: 'kernel/sched/core.o', pre, post: pre }), []);
});

test('a comment shifting __LINE__ in dynamic-debug descriptors is not a data change', () => {
  const diff = diffOf('mm/util.c', [{ from: /\n#include/, to: '\n/* spliced:\n * two lines */\n#include' }]);
  assert.ok(diff.data.some((d) => d.name.startsWith('__UNIQUE_ID_ddebug') && d.status === 'changed'), 'the descriptors do change');
  assert.equal(reasonOf(() => assertPatchable([diff])), 'NoChange');
});

test('__LINE__ immediates moved by added lines are noise once the patch says where lines went', () => {
  const EXT4 = 'fs/ext4/inode.c';
  const edits = [{ file: EXT4, from: /\n#include/, to: '\n/* spliced:\n * two lines */\n#include' }];
  const pre = compileKernelObject(tree, EXT4);
  const post = compileKernelObject(tree, EXT4, edits);
  assert.ok(touched(diffObjects(pre, post)).length > 0, 'without the line map, ext4_error() line numbers look like changes');
  const lineMap = lineMapOf(sourceDiffOf(EXT4, edits));
  assert.deepEqual(touched(diffObjects(pre, post, { lineMap })), []);
  // A real change of a small constant is still a change, line map or not.
  const width = [{ file: MEMINFO, from: 'num << (PAGE_SHIFT - 10), 8);', to: 'num << (PAGE_SHIFT - 10), 9);' }];
  const meminfo = diffObjects(compileKernelObject(tree, MEMINFO), compileKernelObject(tree, MEMINFO, width), { lineMap: lineMapOf(sourceDiffOf(MEMINFO, width)) });
  assert.deepEqual(touched(meminfo), ['meminfo_proc_show:changed']);
});
