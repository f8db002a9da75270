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
import { branchTarget, decodeInstruction } from '../../../src/elf/x86-decode';
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

test("ext4_sync_file's tracepoints, static branches on ext4's own keys, become stubs; the grown code stays whole", () => {
  const [part] = extract('22-tracepoint-module-ext4');
  assert.deepEqual(part.functions.map((f) => f.oldName), ['ext4_sync_file']);
  const elf = parseElf(part.object);
  const symbols = elf.symbols();
  const relocationsOf = (name: string) => {
    const rela = elf.sectionByName(`.rela${name}`);
    return rela ? elf.relocations(rela).map((r) => ({ ...r, name: symbols[r.symbol].name, shndx: symbols[r.symbol].shndx, section: elf.sections[symbols[r.symbol].shndx]?.name })) : [];
  };
  // The keys: read by the stubs through livepatch relocations; no load-time entry names an ext4 symbol.
  const keys = part.klpRelocations.filter((r) => r.section === '.text.__spliced_static_branches').map((r) => [r.offset, r.symbol, r.addend]);
  assert.deepEqual(keys, [
    [2n, '.klp.sym.ext4.__tracepoint_ext4_sync_file_enter,0', 8n - 5n],
    [20n, '.klp.sym.ext4.__tracepoint_ext4_sync_file_exit,0', 8n - 5n],
  ]);
  for (const section of ['__jump_table', '.static_call_sites']) {
    // What stays names the patched code or a vmlinux export (an undefined symbol the module loader resolves).
    assert.ok(relocationsOf(section).every((r) => r.section === '.text.__spliced_ext4_sync_file' || r.shndx === SHN.UNDEF), section);
  }
  assert.ok(part.klpRelocations.some((r) => r.symbol === '.klp.sym.ext4.__SCT__tp_func_ext4_sync_file_enter,0'), 'the static call goes through the trampoline');
  // The grown function decodes to its end; its own jumps and the stubs' jumps land on instruction boundaries.
  const text = elf.sectionByName('.text.__spliced_ext4_sync_file')!;
  const code = elf.sectionData(text);
  const own = relocationsOf('.text.__spliced_ext4_sync_file');
  const boundaries = new Set<number>();
  const jumps: number[] = [];
  for (let at = 0; at < code.length; ) {
    const insn = decodeInstruction(code, at);
    assert.ok(insn, `no instruction at +${at}`);
    boundaries.add(at);
    if (insn.branch && !own.some((r) => Number(r.offset) === at + insn.branch!.at)) jumps.push(branchTarget(code, at, insn)!);
    at += insn.length;
  }
  boundaries.add(code.length);
  assert.ok(jumps.length > 0 && jumps.every((t) => boundaries.has(t)), 'a jump lands inside an instruction');
  const sites = own.filter((r) => r.section === '.text.__spliced_static_branches').map((r) => Number(r.offset) - 1);
  assert.equal(sites.length, 2);
  for (const site of sites) assert.ok(code[site] === 0xe9 && boundaries.has(site) && boundaries.has(site + 5), `site +${site}`);
  const stubJumps = relocationsOf('.text.__spliced_static_branches').filter((r) => r.section === text.name);
  assert.deepEqual(stubJumps.filter((_, i) => i % 2 === 1).map((r) => Number(r.addend) + 4), sites.map((site) => site + 5), 'each stub jumps back behind its site');
  assert.ok(stubJumps.every((r) => boundaries.has(Number(r.addend) + 4)));
  // Each stub unwinds like its site: its ORC entry is the one in force at the site.
  const ips = relocationsOf('.orc_unwind_ip');
  const orc = elf.sectionData(elf.sectionByName('.orc_unwind')!);
  const entry = (i: number) => orc.subarray(i * 6, i * 6 + 6).toString('hex');
  sites.forEach((site, n) => {
    const atSite = ips.map((r, i) => ({ r, i })).filter(({ r }) => r.section === text.name && Number(r.addend) <= site).sort((a, b) => Number(a.r.addend - b.r.addend)).pop()!;
    const stub = ips.findIndex((r) => r.section === '.text.__spliced_static_branches' && Number(r.addend) === n * 18);
    assert.ok(stub >= 0, `stub ${n} has no ORC entry`);
    assert.equal(entry(stub), entry(atSite.i));
  });
});
