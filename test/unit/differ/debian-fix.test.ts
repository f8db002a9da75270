// Tree-dependent (prepares the 6.1.0-55-amd64 tree of linux-source 6.1.192-1 and fetches its image on first use):
// Debian's real ext4 fix of 6.1.192-2 (test/fixtures/patches/debian/) built by `spliced build` for the kernel it
// fixes. Its changed functions hold WARN_RATELIMIT/BUG_ON: __bug_table entries and their strings must travel with
// the splice, every ext4 reference must be a livepatch relocation, and nothing may make it depend on a module.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseElf, SHT, STT } from '../../../src/elf/reader';
import { PATCH_DIR } from '../../fixtures/patches/cases';

const COMMAND = resolve(__dirname, '../../../src/build/command.js');

test("Debian's 6.1.192-2 ext4 fix becomes a splice for 6.1.0-55-amd64 that depends on no module", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'debian-fix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'fix.ko');
  const patch = join(PATCH_DIR, 'debian/6.1.192-2-ext4-mballoc.patch');
  const res = spawnSync(process.execPath, [COMMAND, 'build', '--kernel-release', '6.1.0-55-amd64', patch, '-o', out, '--json'], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stdout + res.stderr);
  const report = JSON.parse(res.stdout);
  assert.deepEqual(report.objects, [{ name: 'ext4', functions: ['ext4_mb_init_group', 'ext4_mb_load_buddy_gfp'] }]);
  assert.deepEqual(report.runPre, [{ object: 'fs/ext4/mballoc.o', functions: ['ext4_mb_init_group', 'ext4_mb_load_buddy_gfp'] }]);
  assert.equal(execFileSync('modinfo', ['-F', 'depends', out], { encoding: 'utf8' }).trim(), '');

  const ko = readFileSync(out);
  const elf = parseElf(ko);
  const symbols = elf.symbols();
  const bugRela = elf.sections.find((s) => s.name === '.rela__bug_table');
  assert.ok(bugRela, 'the splice has __bug_table entries');
  for (const r of elf.relocations(bugRela)) {
    const target = symbols[r.symbol];
    const where = target.type === STT.SECTION ? elf.sections[target.shndx].name : target.name;
    assert.match(where, /__spliced/, 'every __bug_table entry points into the splice (code or its copied strings)');
  }
  const klp = elf.sections.filter((s) => s.type === SHT.RELA && s.name.startsWith('.klp.rela.'));
  assert.ok(klp.length > 0 && klp.every((s) => s.name.startsWith('.klp.rela.ext4..text.__spliced_')), klp.map((s) => s.name).join(' '));
});
