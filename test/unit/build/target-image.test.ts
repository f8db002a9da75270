// The target kernel of a build host, from Debian's packages of 6.1.0-56-amd64 (downloaded on first use, not
// installed): vmlinux extracted from vmlinuz, System.map from the -dbg package, build id from the ELF note; run-pre of
// a fixture's pre object against that vmlinux.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffObjects, DiffResult } from '../../../src/build/differ/diff';
import { relocationsWithin } from '../../../src/build/differ/object';
import { runPreCheck, runPreSites } from '../../../src/build/runpre/check';
import { vmlinuxFileSource } from '../../../src/build/runpre/sources';
import { bzImagePayload, targetImage, targetModuleFiles } from '../../../src/build/tree/target-image';
import { parseElf } from '../../../src/elf/reader';
import { decodeInstruction } from '../../../src/elf/x86-decode';
import { isSplicedError } from '../../../src/errors';
import { fixturePairs, fixtureTree, scratchDir } from './kernel-tree';

async function image() {
  const tree = await fixtureTree();
  return { tree, ...(await targetImage(tree)) };
}

function systemMapAddress(systemMap: string, name: string): bigint {
  const line = systemMap.split('\n').find((l) => l.endsWith(` ${name}`));
  assert.ok(line, `System.map has ${name}`);
  return BigInt('0x' + line.split(' ')[0]);
}

test('a bzImage header that is not one, or too old to name its payload, is refused', () => {
  const header = Buffer.alloc(0x260);
  assert.throws(() => bzImagePayload(header), (err) => isSplicedError(err, 'BuildFailed') && /HdrS/.test(err.message));
  header.write('HdrS', 0x202, 'latin1');
  header.writeUInt16LE(0x207, 0x206);
  assert.throws(() => bzImagePayload(header), (err) => isSplicedError(err, 'BuildFailed') && /2\.08/.test(err.message));
  header.writeUInt16LE(0x20f, 0x206);
  header[0x1f1] = 0; // 0 setup sectors means 4: the payload starts at (4 + 1) * 512 + payload_offset
  header.writeUInt32LE(0x10, 0x248);
  header.writeUInt32LE(4, 0x24c);
  assert.throws(() => bzImagePayload(header), /truncated/);
  const image = Buffer.concat([header, Buffer.alloc(5 * 512 + 0x20 - header.length)]);
  image.write('DATA', 5 * 512 + 0x10, 'latin1');
  assert.equal(bzImagePayload(image).toString('latin1'), 'DATA');
});

test("vmlinux from the package's vmlinuz is the kernel's own extract-vmlinux output, .text at System.map's _text", async () => {
  const { tree, vmlinux, systemMap } = await image();
  const dir = scratchDir('image');
  const vmlinuz = join(dir, 'vmlinuz');
  const deb = join(tree.cacheDir, 'debs', `linux-image-${tree.release}_${tree.debianVersion}_amd64.deb`);
  writeFileSync(vmlinuz, execFileSync('bash', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xO ./boot/vmlinuz-${tree.release}`, 'bash', deb], { maxBuffer: 64 << 20 }));
  // The kernel's script scans for compression magic; ours reads the setup header. Both must give the same bytes.
  const reference = execFileSync(join(tree.sourceDir, 'scripts/extract-vmlinux'), [vmlinuz], { maxBuffer: 256 << 20 });
  const extracted = readFileSync(vmlinux);
  assert.ok(extracted.equals(reference), 'same bytes as scripts/extract-vmlinux');
  const text = parseElf(extracted).sectionByName('.text');
  assert.equal(text?.addr, systemMapAddress(readFileSync(systemMap, 'utf8'), '_text'));
});

test('the build id is the one in the vmlinux note, as binutils reads it', async () => {
  const { vmlinux, buildId } = await image();
  const notes = execFileSync('readelf', ['-n', vmlinux], { encoding: 'utf8' });
  assert.equal(buildId, /Build ID: ([0-9a-f]+)/.exec(notes)?.[1]);
});

async function meminfoDiff(): Promise<DiffResult> {
  const [pair] = await fixturePairs('01-string-meminfo.patch');
  return diffObjects(readFileSync(pair.pre), readFileSync(pair.post));
}

test("run-pre passes for meminfo_proc_show's pre object against the extracted vmlinux, and gives its address", async () => {
  const { vmlinux, systemMap } = await image();
  const map = readFileSync(systemMap, 'utf8');
  const result = runPreCheck(await meminfoDiff(), 'vmlinux', vmlinuxFileSource(readFileSync(vmlinux), map));
  assert.deepEqual(result.functions.map((f) => f.name), ['meminfo_proc_show']);
  assert.equal(result.functions[0].address, systemMapAddress(map, 'meminfo_proc_show'));
});

test('run-pre refuses an altered pre object with RunPreMismatch naming the function', async () => {
  const { vmlinux, systemMap } = await image();
  const diff = await meminfoDiff();
  const fn = diff.functions.find((f) => f.name === 'meminfo_proc_show')!.pre!;
  const section = diff.pre.sections[fn.shndx];
  // Alter the first instruction that is plain code: no relocation field, not a site the kernel rewrites at boot.
  const code = diff.pre.elf.sectionData(section);
  const sites = runPreSites(diff.pre).get(fn.shndx);
  let at = Number(fn.value);
  while (sites?.has(at) || relocationsWithin(diff.pre, fn.shndx, BigInt(at), BigInt(at + decodeInstruction(code, at)!.length)).length > 0) at += decodeInstruction(code, at)!.length;
  diff.pre.elf.sectionData(section)[at] ^= 0xff;
  assert.throws(
    () => runPreCheck(diff, 'vmlinux', vmlinuxFileSource(readFileSync(vmlinux), readFileSync(systemMap, 'utf8'))),
    (err) => isSplicedError(err, 'RunPreMismatch') && err.details.function === 'meminfo_proc_show',
  );
});

test("a module's .ko comes from the image package when the release is not installed", async () => {
  const tree = await fixtureTree();
  const files = await targetModuleFiles(tree, ['ext4', 'no_such_module']);
  assert.deepEqual([...files.keys()], ['ext4']);
  const modinfo = parseElf(files.get('ext4')!).sectionByName('.modinfo');
  assert.ok(modinfo);
  assert.match(parseElf(files.get('ext4')!).sectionData(modinfo).toString('latin1'), new RegExp(`vermagic=${tree.release} `));
});
