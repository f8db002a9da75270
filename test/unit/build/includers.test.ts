import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_HEADER_UNITS, includeTarget, reachOf } from '../../../src/build/compile/includers';
import { objectIndex } from '../../../src/build/tree/objects';
import { isSplicedError } from '../../../src/errors';
import { fixtureTree } from './kernel-tree';

test('a file is looked for by the name it is included by', () => {
  assert.deepEqual(includeTarget('include/linux/sched.h'), { name: 'linux/sched.h', scope: '.' });
  assert.deepEqual(includeTarget('include/uapi/linux/sysctl.h'), { name: 'linux/sysctl.h', scope: '.' });
  assert.deepEqual(includeTarget('arch/x86/include/asm/msr.h'), { name: 'asm/msr.h', scope: '.' });
  assert.deepEqual(includeTarget('fs/ext4/truncate.h'), { name: 'truncate.h', scope: 'fs/ext4' });
  assert.deepEqual(includeTarget('kernel/sched/stats.c'), { name: 'stats.c', scope: 'kernel/sched' });
});

async function reach(file: string, limit = 24) {
  const tree = await fixtureTree();
  const index = await objectIndex(tree);
  return reachOf(tree.sourceDir, file, (c) => index.has(c), limit);
}

test('headers reach the units that include them directly, through headers, and through #included .c files', async () => {
  assert.deepEqual((await reach('fs/proc/fd.h')).units, ['fs/proc/base.c', 'fs/proc/fd.c']);
  // stats.h is included by build_utility.c directly and by core.c / fair.c / build_policy.c through sched.h
  const stats = await reach('kernel/sched/stats.h');
  assert.deepEqual(stats.units, ['kernel/sched/build_policy.c', 'kernel/sched/build_utility.c', 'kernel/sched/core.c', 'kernel/sched/fair.c']);
  assert.ok(stats.via.includes('kernel/sched/sched.h'));
  assert.deepEqual((await reach('kernel/sched/stats.c')).units, ['kernel/sched/build_utility.c']);
});

test('a header that reaches more units than the cap is TooManyUnits, naming the file, the cap and its setting', async () => {
  for (const cap of [24, DEFAULT_MAX_HEADER_UNITS]) {
    await assert.rejects(reach('include/linux/sched.h', cap), (err) =>
      isSplicedError(err, 'TooManyUnits') && err.details.cap === cap && err.details.path === 'include/linux/sched.h' &&
      err.message.includes(`more than ${cap}`) && err.message.includes('max_header_units'));
  }
  // The same header under a cap it fits: stats.h reaches 4 units.
  await assert.rejects(reach('kernel/sched/stats.h', 3), (err) => isSplicedError(err, 'TooManyUnits'));
  assert.equal((await reach('kernel/sched/stats.h', 4)).units.length, 4);
});

test('a file in a directory the tree does not have (the patch adds both) reaches nothing', async () => {
  assert.deepEqual(await reach('drivers/hid/bpf/progs/Huion__Inspiroy-Frego-M.bpf.c'), { units: [], via: [] });
});
