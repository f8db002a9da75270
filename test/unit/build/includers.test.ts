import { test } from 'node:test';
import assert from 'node:assert/strict';
import { includeTarget, reachOf } from '../../../src/build/compile/includers';
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

async function reach(file: string) {
  const tree = await fixtureTree();
  const index = await objectIndex(tree);
  return reachOf(tree.sourceDir, file, (c) => index.has(c), 24);
}

test('headers reach the units that include them directly, through headers, and through #included .c files', async () => {
  assert.deepEqual((await reach('fs/proc/fd.h')).units, ['fs/proc/base.c', 'fs/proc/fd.c']);
  // stats.h is included by build_utility.c directly and by core.c / fair.c / build_policy.c through sched.h
  const stats = await reach('kernel/sched/stats.h');
  assert.deepEqual(stats.units, ['kernel/sched/build_policy.c', 'kernel/sched/build_utility.c', 'kernel/sched/core.c', 'kernel/sched/fair.c']);
  assert.ok(stats.via.includes('kernel/sched/sched.h'));
  assert.deepEqual((await reach('kernel/sched/stats.c')).units, ['kernel/sched/build_utility.c']);
});

test('a header that reaches too many files is refused as wide-header', async () => {
  await assert.rejects(reach('include/linux/sched.h'), (err) => isSplicedError(err, 'UnsafePatch') && err.details.reason === 'wide-header');
});
