// The prepared tree builds Debian's code: every function of a pre object equals the same function in the module
// Debian shipped (linux-image-6.1.0-56-amd64's ext4.ko), byte for byte outside relocation sites.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFile, ElfSymbol, parseElf, SHT, STT } from '../../../src/elf/reader';
import { FIXTURE_RELEASE, fixturePairs } from './kernel-tree';

/** A module Debian shipped, from the image package (extracted once into $TMPDIR/spliced-test-debs, not installed). */
function debianModule(relative: string): Buffer {
  const dir = join(tmpdir(), 'spliced-test-debs');
  const out = join(dir, relative.replace(/\//g, '_'));
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('apt-get', ['download', `linux-image-${FIXTURE_RELEASE}`], { cwd: dir, stdio: 'pipe' });
    const deb = execFileSync('sh', ['-c', 'ls linux-image-*.deb | head -1'], { cwd: dir, encoding: 'utf8' }).trim();
    const member = `./lib/modules/${FIXTURE_RELEASE}/kernel/${relative}`;
    execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" > "$3.tmp"', 'sh', deb, member, out], { cwd: dir });
    renameSync(`${out}.tmp`, out);
    rmSync(join(dir, deb));
  }
  return readFileSync(out);
}

/** Relocation width in bytes for the x86-64 types kernel code uses. */
const WIDTH: Record<number, number> = { 1: 8, 2: 4, 4: 4, 9: 4, 10: 4, 11: 4, 24: 8 };

/** A function's bytes with every relocated field zeroed. */
function maskedCode(elf: ElfFile, fn: ElfSymbol): Buffer {
  const section = elf.sections[fn.shndx];
  const start = Number(fn.value);
  const code = Buffer.from(elf.sectionData(section).subarray(start, start + fn.size));
  for (const rela of elf.sections.filter((s) => s.type === SHT.RELA && s.info === section.index)) {
    for (const r of elf.relocations(rela)) {
      const at = Number(r.offset) - start;
      const width = WIDTH[r.type];
      assert.ok(width, `relocation type ${r.type} in ${fn.name}`);
      if (at + width > 0 && at < fn.size) code.fill(0, Math.max(at, 0), Math.min(at + width, fn.size));
    }
  }
  return code;
}

const functions = (elf: ElfFile) => elf.symbols().filter((s) => s.type === STT.FUNC && s.size > 0 && s.shndx > 0);

test('pre objects from the tree equal Debian\'s shipped code (fs/ext4/sysfs.o in ext4.ko)', async () => {
  const [pair] = await fixturePairs('09-ext4-sysfs.patch');
  const ours = parseElf(readFileSync(pair.pre));
  const debian = parseElf(debianModule('fs/ext4/ext4.ko'));
  const debianByName = new Map<string, ElfSymbol[]>();
  for (const s of functions(debian)) debianByName.set(s.name, [...(debianByName.get(s.name) ?? []), s]);

  const matches = (fn: ElfSymbol, code: Buffer) =>
    (debianByName.get(fn.name) ?? []).some((d) => d.size === fn.size && maskedCode(debian, d).equals(code));

  const mine = functions(ours);
  assert.ok(mine.length >= 5, `${mine.length} functions`);
  assert.deepEqual(mine.filter((fn) => !matches(fn, maskedCode(ours, fn))).map((f) => f.name), []);

  // The comparison sees a one-byte difference outside relocations.
  const biggest = mine.reduce((a, b) => (b.size > a.size ? b : a));
  const altered = maskedCode(ours, biggest);
  const at = altered.findIndex((byte) => byte !== 0);
  altered[at] ^= 0xff;
  assert.equal(matches(biggest, altered), false);
});
