// Differ benchmark: diff of the kernel/sched/core.o pair (pre, and post with a pr_info_once added to scheduler_tick),
// both compiled from the fixture kernel's Debian tree (prepared first if not cached). Target: ≤ 300 ms.
// Prints the median of several runs.
// Run: node dist/bench/differ-core.js [runs]

import { performance } from 'node:perf_hooks';
import { diffObjects } from '../src/build/differ/diff';
import { fixtureTree } from '../test/unit/build/kernel-tree';
import { compileKernelObject } from '../test/unit/differ/kernel-corpus';

const CORE = 'kernel/sched/core.c';
const runs = Number(process.argv[2] ?? 9);

async function main(): Promise<void> {
  const tree = await fixtureTree();
  const pre = compileKernelObject(tree, CORE);
  const post = compileKernelObject(tree, CORE, [
    { file: CORE, from: /(void scheduler_tick\(void\)\n\{[^]*?\n)(\tsched_clock_tick\(\);)/, to: '$1\tpr_info_once("bench\\n");\n$2' },
  ]);
  const times: number[] = [];
  let changed: string[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const diff = diffObjects(pre, post);
    times.push(performance.now() - start);
    changed = diff.functions.filter((f) => f.status !== 'unchanged').map((f) => `${f.name}:${f.status}`);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ bench: 'differ-core', object: 'kernel/sched/core.o', bytes: { pre: pre.length, post: post.length }, runs, medianMs: Math.round(median), minMs: Math.round(times[0]), maxMs: Math.round(times[times.length - 1]), changed, targetMs: 300 }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
