import { test } from 'node:test';
import assert from 'node:assert/strict';
import { includeGraph, resolveInclude, treeFiles } from '../../../src/build/compile/include-graph';
import { DEFAULT_MAX_HEADER_UNITS, reachOf } from '../../../src/build/compile/includers';
import { objectIndex } from '../../../src/build/tree/objects';
import { isSplicedError } from '../../../src/errors';
import { fixtureTree } from './kernel-tree';

test('an #include is resolved as the compiler searches: beside its includer, the global directories, a subsystem\'s own', () => {
  const tree = [
    'fs/ext4/ext4.h', 'fs/ext4/inode.c', 'fs/internal.h', 'fs/nfsd/vfs.c', 'include/linux/fs.h', 'include/uapi/linux/fs.h',
    'arch/x86/include/asm/msr.h', 'include/asm-generic/msr.h', 'drivers/gpu/drm/i915/gt/intel_gt.h', 'drivers/gpu/drm/i915/i915_irq.c',
    'drivers/gpu/drm/amd/include/atombios.h', 'drivers/gpu/drm/amd/amdgpu/amdgpu_atomfirmware.c', 'drivers/gpu/drm/amd/display/atombios.h',
    'drivers/scsi/common.h', 'drivers/net/foo/x.c', 'drivers/net/bar/common.h',
  ];
  const files = treeFiles(tree);
  const resolve = (includer: string, name: string, quoted = true) => resolveInclude(includer, name, quoted, files);
  assert.deepEqual(resolve('fs/ext4/inode.c', 'ext4.h'), ['fs/ext4/ext4.h']);
  assert.deepEqual(resolve('drivers/gpu/drm/i915/i915_irq.c', 'gt/intel_gt.h'), ['drivers/gpu/drm/i915/gt/intel_gt.h']);
  assert.deepEqual(resolve('fs/nfsd/vfs.c', '../internal.h'), ['fs/internal.h']);
  // kbuild's order: include/ before include/uapi/, arch/x86/include/ first; <…> never looks beside the includer.
  assert.deepEqual(resolve('fs/ext4/inode.c', 'linux/fs.h', false), ['include/linux/fs.h']);
  assert.deepEqual(resolve('fs/ext4/inode.c', 'asm/msr.h', false), ['arch/x86/include/asm/msr.h']);
  assert.deepEqual(resolve('fs/ext4/inode.c', 'ext4.h', false), ['fs/ext4/ext4.h']);
  // A subsystem's -I directory (amdgpu/ reads …/amd/include/): a sibling's file of that name; beside still wins.
  assert.deepEqual(resolve('drivers/gpu/drm/amd/amdgpu/amdgpu_atomfirmware.c', 'atombios.h').sort(), ['drivers/gpu/drm/amd/display/atombios.h', 'drivers/gpu/drm/amd/include/atombios.h']);
  assert.deepEqual(resolve('drivers/gpu/drm/amd/display/dc.c', 'atombios.h'), ['drivers/gpu/drm/amd/display/atombios.h']);
  // Siblings under a top-level directory are unrelated drivers: drivers/net/foo does not see drivers/scsi/common.h.
  assert.deepEqual(resolve('drivers/net/foo/x.c', 'common.h'), ['drivers/net/bar/common.h']);
  assert.deepEqual(resolve('drivers/net/foo/x.c', 'nowhere.h'), []);
  assert.deepEqual(resolve('fs/nfsd/vfs.c', '../../../etc/passwd'), []);
});

async function reach(file: string, limit = 24) {
  const tree = await fixtureTree();
  const index = await objectIndex(tree);
  return reachOf(await includeGraph(tree), file, (c) => index.has(c), limit);
}

test('headers reach the units that include them directly, through headers, and through #included .c files', async () => {
  assert.deepEqual((await reach('fs/proc/fd.h')).units, ['fs/proc/base.c', 'fs/proc/fd.c']);
  // stats.h is included by build_utility.c directly and by core.c / fair.c / build_policy.c through sched.h
  const stats = await reach('kernel/sched/stats.h');
  assert.deepEqual(stats.units, ['kernel/sched/build_policy.c', 'kernel/sched/build_utility.c', 'kernel/sched/core.c', 'kernel/sched/fair.c']);
  assert.ok(stats.via.includes('kernel/sched/sched.h'));
  assert.deepEqual((await reach('kernel/sched/stats.c')).units, ['kernel/sched/build_utility.c']);
});

test('includes by a path, by a relative path and through a subsystem\'s -I directory are followed', async () => {
  // Before the include graph: 33 units (only gt/'s own), 0 units, and fs/nfsd/vfs.c missing.
  const gt = await reach('drivers/gpu/drm/i915/gt/intel_gt.h', DEFAULT_MAX_HEADER_UNITS);
  assert.ok(gt.units.includes('drivers/gpu/drm/i915/i915_irq.c') && gt.units.includes('drivers/gpu/drm/i915/gt/intel_gt.c'), gt.units.join(' '));
  assert.ok((await reach('drivers/gpu/drm/amd/include/atombios.h', DEFAULT_MAX_HEADER_UNITS)).units.includes('drivers/gpu/drm/amd/amdgpu/amdgpu_atomfirmware.c'));
  assert.ok((await reach('fs/internal.h', DEFAULT_MAX_HEADER_UNITS)).units.includes('fs/nfsd/vfs.c'));
});

test('a header that reaches more units than the cap is TooManyUnits, naming the file, the cap and its setting', async () => {
  for (const cap of [24, DEFAULT_MAX_HEADER_UNITS]) {
    await assert.rejects(reach('include/linux/sched.h', cap), (err) =>
      isSplicedError(err, 'TooManyUnits') && err.details.cap === cap && err.details.path === 'include/linux/sched.h' &&
      err.message.includes(`more than ${cap}`) && err.message.includes('max_header_units'));
  }
  // A header kbuild forces into every unit (-include), and one it includes: every unit, whatever the cap.
  for (const header of ['include/linux/kconfig.h', 'include/linux/compiler_attributes.h']) {
    await assert.rejects(reach(header, 100_000), (err) => isSplicedError(err, 'TooManyUnits') && err.details.path === header);
  }
  // The same header under a cap it fits: stats.h reaches 4 units.
  await assert.rejects(reach('kernel/sched/stats.h', 3), (err) => isSplicedError(err, 'TooManyUnits'));
  assert.equal((await reach('kernel/sched/stats.h', 4)).units.length, 4);
});

test('a file in a directory the tree does not have (the patch adds both) reaches nothing', async () => {
  assert.deepEqual(await reach('drivers/hid/bpf/progs/Huion__Inspiroy-Frego-M.bpf.c'), { units: [], via: [] });
});
