import { test } from 'node:test';
import assert from 'node:assert/strict';
import { objectIndex, parseDryRun } from '../../../src/build/tree/objects';
import { fixtureTree } from './kernel-tree';

const GCC = 'gcc-12 -Wp,-MMD,x.d -nostdinc -D__KERNEL__ -O2';

test('a dry-run listing gives each C object once, with its module, and normalised sources', () => {
  const listing = [
    `  ${GCC} -DKBUILD_MODFILE='"fs/ext4/ext4"' -DKBUILD_BASENAME='"inode"' -DKBUILD_MODNAME='"ext4"' -D__KBUILD_MODNAME=kmod_ext4 -DMODULE -c -o fs/ext4/inode.o fs/ext4/inode.c  ; ./tools/objtool/objtool --module fs/ext4/inode.o`,
    `printf '%s\\n' 'cmd_fs/ext4/inode.o := ${GCC} -DKBUILD_MODNAME='\\''"ext4"'\\'' -DMODULE -c -o fs/ext4/inode.o fs/ext4/inode.c' > fs/ext4/.inode.o.cmd`,
    `  ${GCC} -DKBUILD_BASENAME='"core"' -DKBUILD_MODNAME='"core"' -D__KBUILD_MODNAME=kmod_core -c -o kernel/sched/core.o kernel/sched/core.c`,
    `  ${GCC} -DKBUILD_MODNAME='"kvm"' -DMODULE -c -o arch/x86/kvm/../../../virt/kvm/kvm_main.o arch/x86/kvm/../../../virt/kvm/kvm_main.c`,
    `  gcc-12 -D__ASSEMBLY__ -DKBUILD_MODNAME='"entry_64"' -c -o arch/x86/entry/entry_64.o arch/x86/entry/entry_64.S`,
  ].join('\n');
  assert.deepEqual(parseDryRun(listing), [
    { source: 'fs/ext4/inode.c', target: 'fs/ext4/inode.o', module: 'ext4' },
    { source: 'kernel/sched/core.c', target: 'kernel/sched/core.o' },
    { source: 'virt/kvm/kvm_main.c', target: 'arch/x86/kvm/../../../virt/kvm/kvm_main.o', module: 'kvm' },
  ]);
});

test('the tree\'s index is kbuild\'s view of this configuration', async () => {
  const index = await objectIndex(await fixtureTree());
  const one = (source: string) => {
    const objects = index.get(source);
    assert.ok(objects && objects.length === 1, `${source}: ${JSON.stringify(objects)}`);
    return objects[0];
  };
  assert.ok([...index.values()].flat().length > 10_000);
  assert.deepEqual(one('fs/ext4/inode.c'), { source: 'fs/ext4/inode.c', target: 'fs/ext4/inode.o', module: 'ext4' });
  assert.equal(one('kernel/sched/core.c').module, undefined);
  assert.equal(one('kernel/sched/build_utility.c').target, 'kernel/sched/build_utility.o');
  assert.equal(index.has('kernel/sched/stats.c'), false, 'only #included by build_utility.c');
  assert.equal(index.has('fs/proc/bootconfig.c'), false, 'CONFIG_BOOT_CONFIG is not set');
  assert.equal(one('arch/x86/kernel/process_64.c').target, 'arch/x86/kernel/process_64.o', 'named through $(BITS)');
  assert.equal(one('virt/kvm/kvm_main.c').module, 'kvm');
});
