// Where the layout check gets the target kernel's types (src/build/kernel-types.ts), on Debian's own BTF: the fixture
// kernel's vmlinux and ext4.ko (image package, cached with its tree), laid out as /sys/kernel/btf shows them (raw
// vmlinux BTF, raw split module BTF), and this host's own /sys/kernel/btf/vmlinux where it has one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { btfSection, imageKernelTypes, runningKernelTypes, TargetTypes } from '../../../src/build/kernel-types';
import { targetImage, targetModuleFiles } from '../../../src/build/tree/target-image';
import { parseBtf } from '../../../src/elf/btf';
import { readKernelFile } from '../../../src/kernel/read-kernel-file';
import { fixtureTree, scratchDir } from './kernel-tree';

interface Debian {
  vmlinuxPath: string;
  vmlinux: Buffer;
  ext4Ko: Buffer;
  ext4: Buffer;
}
let debian: Promise<Debian> | undefined;
function debianBtf(): Promise<Debian> {
  debian ??= (async () => {
    const tree = await fixtureTree();
    const vmlinuxPath = (await targetImage(tree)).vmlinux;
    const ext4Ko = (await targetModuleFiles(tree, ['ext4'])).get('ext4')!;
    return { vmlinuxPath, vmlinux: btfSection(await readFile(vmlinuxPath))!, ext4Ko, ext4: btfSection(ext4Ko)! };
  })();
  return debian;
}

/** A directory shaped like /sys/kernel/btf: `files` by name. */
function sysfsLike(files: Record<string, Buffer>): string {
  const dir = scratchDir('btf-sysfs');
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return dir;
}

const typeNamed = (t: TargetTypes, kind: string, name: string) => t.btf?.types.find((x) => x.kind === kind && x.name === name);

test('a sysfs file is read to its end, not to the first short read (/sys/kernel/btf/vmlinux gives a page per read)', { skip: !existsSync('/sys/kernel/btf/vmlinux') && 'this host has no /sys/kernel/btf/vmlinux' }, async () => {
  const data = await readKernelFile('/sys/kernel/btf/vmlinux');
  assert.equal(data.length, statSync('/sys/kernel/btf/vmlinux').size);
  assert.ok(parseBtf(data).types.length > 1000);
});

test("the running kernel's types: vmlinux and a loaded module's split BTF from sysfs, an unloaded module's from its .ko", async () => {
  const { vmlinux, ext4, ext4Ko } = await debianBtf();
  const sysfs = sysfsLike({ vmlinux, ext4 });
  const types = runningKernelTypes(new Map(), sysfs);
  const core = await types('vmlinux');
  assert.equal(core.btf ? core.source : core.missing, join(sysfs, 'vmlinux'));
  const live = await types('ext4');
  assert.equal(live.btf ? live.source : live.missing, join(sysfs, 'ext4'));
  // ext4's own types continue vmlinux's ids; its strings continue vmlinux's string offsets.
  assert.ok(typeNamed(live, 'struct', 'ext4_sb_info')!.id >= core.btf!.types.length);
  assert.ok(typeNamed(live, 'struct', 'list_head')!.id < core.btf!.types.length);

  const fromKo = await runningKernelTypes(new Map([['ext4', ext4Ko]]), sysfsLike({ vmlinux }))('ext4');
  assert.equal(fromKo.btf ? fromKo.source : fromKo.missing, "ext4.ko's .BTF section");
  assert.ok(typeNamed(fromKo, 'struct', 'ext4_sb_info'));
});

test("a module BTF cut short (what readFile returned in the guest: ext4's first 4 KiB) is no types, naming the file and why", async () => {
  const { vmlinux, ext4 } = await debianBtf();
  const sysfs = sysfsLike({ vmlinux, ext4: ext4.subarray(0, 4096) });
  const cut = await runningKernelTypes(new Map(), sysfs)('ext4');
  assert.equal(cut.btf, undefined);
  assert.match(cut.btf ? '' : cut.missing, new RegExp(`^${join(sysfs, 'ext4')} cannot be read as BTF: BTF sections beyond its end: types end at \\d+, strings at \\d+, the data at 4096$`));
});

test('no vmlinux BTF, a module neither loaded nor installed, an image without the .ko: no types, and why', async () => {
  const { vmlinuxPath } = await debianBtf();
  const none = runningKernelTypes(new Map(), sysfsLike({}));
  const core = await none('vmlinux');
  assert.match(core.btf ? '' : core.missing, /\/vmlinux does not exist \(a kernel built without CONFIG_DEBUG_INFO_BTF\)$/);
  const ext4 = await none('ext4');
  assert.match(ext4.btf ? '' : ext4.missing, /^no vmlinux types for ext4's to continue: /);

  const { vmlinux } = await debianBtf();
  const unloaded = await runningKernelTypes(new Map(), sysfsLike({ vmlinux }))('zram');
  assert.match(unloaded.btf ? '' : unloaded.missing, /^zram is not loaded \(no .*\/zram\) and no zram\.ko is installed$/);

  // A target name is never a path: no file outside the directory is read.
  const escape = await runningKernelTypes(new Map(), sysfsLike({ vmlinux }))('../../../etc/passwd');
  assert.equal(escape.btf ? escape.source : escape.missing, '"../../../etc/passwd" is not a module name');

  const image = imageKernelTypes(vmlinuxPath, new Map());
  const imageCore = await image('vmlinux');
  assert.equal(imageCore.btf ? imageCore.source : imageCore.missing, `${vmlinuxPath}'s .BTF section`);
  const noKo = await image('zram');
  assert.equal(noKo.btf ? '' : noKo.missing, 'the image package has no zram.ko');
});
