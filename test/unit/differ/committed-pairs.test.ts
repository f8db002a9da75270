// The differ, safety analysis and extract step on real Debian 6.1 kernel objects committed as fixtures
// (test/fixtures/pairs/, made by test/fixtures/pairs/make.ts from the fixture patches): no apt, no kernel tree.
// The target kernel's symbol list is left out (sympos 0, every non-exported reference a livepatch relocation), as on
// a build host without the target's kallsyms; run-pre has its own committed fixtures (runpre-fixtures.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffObjects, DiffResult } from '../../../src/build/differ/diff';
import { lineMapOf } from '../../../src/build/differ/lines';
import { assertPatchable } from '../../../src/build/differ/safety';
import { extractPatch, Extracted } from '../../../src/build/module/extract';
import { kernelSymbols } from '../../../src/build/module/symbols';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { parseElf, SHN, STB } from '../../../src/elf/reader';
import { isSplicedError } from '../../../src/errors';
import { PATCH_DIR } from '../../fixtures/patches/cases';
import { CommittedPair, PAIR_FIXTURES, PAIRS_DIR } from '../../fixtures/pairs/make';

interface Unit {
  pair: CommittedPair;
  diff: DiffResult;
  target: string;
}

function units(fixture: string): Unit[] {
  const dir = join(PAIRS_DIR, fixture);
  const pairs = JSON.parse(readFileSync(join(dir, 'pairs.json'), 'utf8')) as CommittedPair[];
  const patch = parsePatch(readFileSync(join(PATCH_DIR, `${fixture}.patch`), 'utf8'));
  return pairs.map((pair) => {
    const sourceDiff = patch.files.find((f) => f.path === pair.tu)?.diff;
    const diff = diffObjects(readFileSync(join(dir, pair.pre)), readFileSync(join(dir, pair.post)), {
      module: pair.module,
      lineMap: sourceDiff === undefined ? undefined : lineMapOf(sourceDiff),
    });
    return { pair, diff, target: pair.module ?? 'vmlinux' };
  });
}

const touched = (diff: DiffResult) => diff.functions.filter((f) => f.status !== 'unchanged').map((f) => `${f.name}:${f.status}`).sort();

function refusal(fixture: string): string {
  try {
    assertPatchable(units(fixture).map((u) => u.diff));
  } catch (err) {
    if (isSplicedError(err, 'UnsafePatch')) return String(err.details.reason);
    throw err;
  }
  return 'patchable';
}

function extract(fixture: string): Extracted[] {
  const all = units(fixture);
  assertPatchable(all.map((u) => u.diff));
  return extractPatch(all.map((u) => ({ diff: u.diff, target: u.target })), kernelSymbols('', ''));
}

test('every committed pair is small and names its objects', () => {
  for (const fixture of PAIR_FIXTURES) {
    for (const { pair } of units(fixture)) {
      for (const file of [pair.pre, pair.post]) {
        const elf = parseElf(readFileSync(join(PAIRS_DIR, fixture, file)));
        assert.ok(!elf.sections.some((s) => s.name.startsWith('.debug_')), `${fixture}/${file} keeps debug sections`);
      }
    }
  }
});

test('a same-length string change: only meminfo_proc_show changes, and it is extracted', () => {
  const [unit] = units('01-string-meminfo');
  assert.deepEqual(touched(unit.diff), ['meminfo_proc_show:changed']);
  const [part] = extract('01-string-meminfo');
  assert.deepEqual(part.functions, [{ oldName: 'meminfo_proc_show', sympos: 0, newSymbol: '__spliced_meminfo_proc_show' }]);
});

test('a logic change and a new function: the new one is carried, only the changed one replaced', () => {
  assert.deepEqual(touched(units('02-logic-uptime')[0].diff), ['uptime_proc_show:changed']);
  const [version] = units('03-new-function-version');
  assert.ok(touched(version.diff).includes('version_proc_show:changed'), touched(version.diff).join(' '));
  assert.ok(touched(version.diff).some((t) => t.endsWith(':new')), touched(version.diff).join(' '));
  const [part] = extract('03-new-function-version');
  assert.deepEqual(part.functions.map((f) => f.oldName), ['version_proc_show']);
});

test('a comment-only patch changes nothing once its line shifts are known', () => {
  assert.deepEqual(touched(units('11-comment-only')[0].diff), []);
});

test('refusals on real objects: data-init, init code, a PCI quirk table entry', () => {
  assert.equal(refusal('12-fail-data-init'), 'data-init');
  assert.equal(refusal('14-fail-init'), 'init');
  assert.equal(refusal('21-fail-pci-quirk'), 'kernel-table');
});

test("WARN_ON's __bug_table entry and its file-name string travel with the changed function", () => {
  const [part] = extract('17-warn-string-loadavg');
  assert.deepEqual(part.functions.map((f) => f.oldName), ['loadavg_proc_show']);
  const elf = parseElf(part.object);
  assert.ok(elf.sectionByName('__bug_table'), 'no __bug_table in the splice');
  assert.ok(!part.klpRelocations.some((r) => /\.LC\d/.test(r.symbol)), JSON.stringify(part.klpRelocations.map((r) => r.symbol)));
});

test('a new global function of one file called from another links inside the splice', () => {
  const parts = extract('19-new-global-two-files');
  assert.equal(parts.length, 2);
  for (const part of parts) {
    const undefinedNames = parseElf(part.object)
      .symbols()
      .filter((s) => s.shndx === SHN.UNDEF && s.bind === STB.GLOBAL && s.name !== '')
      .map((s) => s.name);
    assert.ok(!undefinedNames.some((n) => !n.startsWith('__spliced') && /spliced/.test(n)), undefinedNames.join(' '));
    assert.ok(!part.klpRelocations.some((r) => r.symbol.includes('spliced')), JSON.stringify(part.klpRelocations.map((r) => r.symbol)));
  }
});

test('a change in ext4.ko: klp object "ext4", every reference into the module a livepatch relocation', () => {
  const [part] = extract('09-ext4-sysfs');
  assert.equal(part.target, 'ext4');
  assert.ok(part.functions.length > 0);
  const intoExt4 = part.klpRelocations.filter((r) => r.symbol.startsWith('.klp.sym.ext4.'));
  assert.ok(intoExt4.length > 0, JSON.stringify(part.klpRelocations.map((r) => r.symbol)));
  const objects = new Set(part.klpRelocations.map((r) => /^\.klp\.sym\.([^.]+)\./.exec(r.symbol)?.[1]));
  assert.ok([...objects].every((o) => o === 'ext4' || o === 'vmlinux'), [...objects].join(' '));
});
