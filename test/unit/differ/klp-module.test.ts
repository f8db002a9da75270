// Module generation on a real kernel object pair: extract, link through kbuild against the installed headers,
// post-process into .klp.rela sections. The fixture kernel's tree is prepared first if not cached; the installed
// headers are a host package (scripts/host-packages.txt).

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseElf, SHT } from '../../../src/elf/reader';
import { diffObjects } from '../../../src/build/differ/diff';
import { extractPatch } from '../../../src/build/module/extract';
import { buildLivepatchModule } from '../../../src/build/module/link';
import { SHF_RELA_LIVEPATCH, SHN_LIVEPATCH } from '../../../src/build/module/postprocess';
import { kernelSymbols } from '../../../src/build/module/symbols';
import { SPLICE_MODINFO } from '../../../src/kernel/splice-modinfo';
import type { Tree } from '../../../src/build/tree/tree';
import { FIXTURE_RELEASE, fixtureTree } from '../build/kernel-tree';
import { compileKernelObject } from './kernel-corpus';

const HEADERS = `/usr/src/linux-headers-${FIXTURE_RELEASE}`;
let tree: Tree;
before(async () => {
  assert.ok(existsSync(HEADERS), `${HEADERS} is missing: install linux-headers-${FIXTURE_RELEASE} (scripts/host-packages.txt)`);
  tree = await fixtureTree();
});
const MEMINFO = 'fs/proc/meminfo.c';

function modinfo(ko: Buffer): Map<string, string> {
  const elf = parseElf(ko);
  const text = elf.sectionData(elf.sectionByName('.modinfo')!).toString('latin1');
  return new Map(text.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

test('a string change in meminfo_proc_show becomes a livepatch module for vmlinux', async () => {
  const pre = compileKernelObject(tree, MEMINFO);
  const post = compileKernelObject(tree, MEMINFO, [{ file: MEMINFO, from: '"MemTotal:       "', to: '"MemTotaL:       "' }]);
  const diff = diffObjects(pre, post);
  // The kernel's symbol order stands in for /proc/kallsyms: the pre object's symbols, locals lower-case.
  const kallsyms = diff.pre.symbols
    .filter((s) => s.name !== '' && s.type !== 3 && s.type !== 4)
    .map((s, i) => `${(0xffffffff81000000n + BigInt(i * 16)).toString(16)} ${s.bind === 0 ? 't' : 'T'} ${s.name}`)
    .join('\n');
  const kernel = kernelSymbols(readFileSync(`${HEADERS}/Module.symvers`, 'utf8'), kallsyms);
  const [extracted] = extractPatch([{ diff, target: 'vmlinux' }], kernel);
  assert.deepEqual(extracted.functions, [{ oldName: 'meminfo_proc_show', sympos: 0, newSymbol: '__spliced_meminfo_proc_show' }]);

  const ko = await buildLivepatchModule({ name: 'spliced_test_meminfo', parts: [extracted], headersDir: HEADERS, patchSha256: 'ab'.repeat(32), buildId: 'cd'.repeat(20) });
  const info = modinfo(ko);
  assert.equal(info.get('livepatch'), 'Y');
  assert.equal(info.get('vermagic'), '6.1.0-56-amd64 SMP preempt mod_unload modversions ');
  assert.equal(info.get(SPLICE_MODINFO.patchSha256), 'ab'.repeat(32));
  assert.equal(info.get(SPLICE_MODINFO.functions), 'vmlinux:meminfo_proc_show,0');

  const elf = parseElf(ko);
  const text = elf.sectionByName('.text.__spliced_meminfo_proc_show')!;
  const klpRela = elf.sections.filter((s) => s.name.startsWith('.klp.rela.vmlinux.'));
  assert.equal(klpRela.length, 1);
  assert.equal(klpRela[0].type, SHT.RELA);
  assert.ok((klpRela[0].flags & SHF_RELA_LIVEPATCH) !== 0n);
  assert.equal(klpRela[0].info, text.index);
  const symbols = elf.symbols();
  const targets = elf.relocations(klpRela[0]).map((r) => symbols[r.symbol]);
  assert.ok(targets.every((s) => s.shndx === SHN_LIVEPATCH && /^\.klp\.sym\.vmlinux\.\w+,\d+$/.test(s.name)));
  // Exported callees stay ordinary (modversioned) references; non-exported ones go through livepatch.
  const klpNames = new Set(targets.map((s) => s.name.split('.')[4].split(',')[0]));
  assert.ok(klpNames.has('hugetlb_report_meminfo'));
  assert.ok(!klpNames.has('seq_printf') && !klpNames.has('si_meminfo'));
  // The site of every livepatch relocation is still zero: the kernel refuses to relocate over non-zero bytes.
  const code = elf.sectionData(text);
  for (const r of elf.relocations(klpRela[0])) assert.equal(code.readUInt32LE(Number(r.offset)), 0);
  // Special sections were cut down to entries of the included function.
  const mcount = elf.sectionByName('__mcount_loc')!;
  assert.ok(mcount.size >= 8);
});

test('a change in ext4.ko becomes a klp object "ext4" with .klp.rela.ext4 relocations', async () => {
  const SYSFS = 'fs/ext4/sysfs.c';
  const pre = compileKernelObject(tree, SYSFS);
  const post = compileKernelObject(tree, SYSFS, [
    // The new code refers to a static object of ext4 that the kernel already has: a livepatch relocation.
    { file: SYSFS, from: 'sysfs_emit(buf, "supported\\n")', to: 'sysfs_emit(buf, "supported %d\\n", (int)(long)&ext4_attr_lazy_itable_init)' },
  ]);
  const diff = diffObjects(pre, post);
  // The module's symbols as /proc/kallsyms lists a loaded module: tagged [ext4].
  const kallsyms = diff.pre.symbols
    .filter((s) => s.name !== '' && s.type !== 3 && s.type !== 4 && s.shndx !== 0)
    .map((s, i) => `${(0xffffffffc0000000n + BigInt(i * 16)).toString(16)} ${s.bind === 0 ? 't' : 'T'} ${s.name}\t[ext4]`)
    .join('\n');
  const kernel = kernelSymbols(readFileSync(`${HEADERS}/Module.symvers`, 'utf8'), kallsyms);
  const [extracted] = extractPatch([{ diff, target: 'ext4' }], kernel);
  assert.deepEqual(extracted.functions.map((f) => f.oldName), ['ext4_attr_show']);
  const ko = await buildLivepatchModule({ name: 'spliced_test_ext4', parts: [extracted], headersDir: HEADERS, patchSha256: '0'.repeat(64), buildId: 'x' });
  assert.equal(modinfo(ko).get(SPLICE_MODINFO.functions), 'ext4:ext4_attr_show,0');
  const elf = parseElf(ko);
  const klpRela = elf.sections.filter((s) => s.name.startsWith('.klp.rela.'));
  assert.ok(extracted.klpRelocations.some((r) => r.symbol === '.klp.sym.ext4.ext4_attr_lazy_itable_init,0'));
  assert.ok(klpRela.length > 0 && klpRela.every((s) => s.name.startsWith('.klp.rela.ext4.')), klpRela.map((s) => s.name).join(' '));
  const symbols = elf.symbols();
  assert.ok(elf.relocations(klpRela[0]).every((r) => symbols[r.symbol].name.startsWith('.klp.sym.ext4.')));
});
