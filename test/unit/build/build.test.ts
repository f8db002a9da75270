import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildProgress, buildSplice, compilePairs } from '../../../src/build/build';
import { targetImage } from '../../../src/build/tree/target-image';
import { isSplicedError } from '../../../src/errors';
import { readModuleInfo } from '../../../src/kernel/modinfo';
import { SPLICE_MODINFO } from '../../../src/kernel/splice-modinfo';
import { FIXTURE_RELEASE, fixtureTree, PATCHES, scratchDir } from './kernel-tree';

const patchText = (name: string) => readFileSync(join(PATCHES, name), 'utf8');

test('compilePairs reports progress stage by stage and returns the pairs with the patch hash', async () => {
  await fixtureTree();
  const seen: BuildProgress[] = [];
  const report = await compilePairs(
    { patchText: patchText('02-logic-uptime.patch'), target: { release: FIXTURE_RELEASE }, onProgress: (p) => seen.push(p) },
    scratchDir('build'),
  );
  assert.deepEqual([...new Set(seen.map((p) => p.stage))], ['vet', 'tree', 'compile']);
  assert.ok(seen.some((p) => p.stage === 'compile' && p.message.includes('fs/proc/uptime.o')));
  assert.deepEqual(report.kernel.debianVersion, '6.1.192-2');
  assert.match(report.patch.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(report.patch.files, [{ path: 'fs/proc/uptime.c', change: 'modify', role: 'c', added: 1, removed: 0 }]);
  assert.deepEqual(report.compiled.pairs.map((p) => p.object), ['fs/proc/uptime.o']);
});

test('buildSplice refuses before preparing anything when the patch is unsafe', async () => {
  const seen: string[] = [];
  await assert.rejects(
    buildSplice({ patchText: patchText('15-fail-assembly.patch'), target: { release: FIXTURE_RELEASE }, onProgress: (p) => seen.push(p.stage) }, '/nonexistent/x.ko'),
    (err) => isSplicedError(err, 'UnsafePatch'),
  );
  assert.deepEqual(seen, ['vet']);
});

test("the module records the patch header, source and build id in spliced.* modinfo, as the engine's reader sees it", async () => {
  const header = 'Subject: [PATCH] proc: relabel MemTotal\n\nFixes CVE-2026-0001.\nSpliced-Version: 6.1.192-3\n\n';
  const text = header + patchText('01-string-meminfo.patch').replace(/^[\s\S]*?(?=^--- )/m, '');
  const output = join(scratchDir('modinfo'), 'out.ko');
  const report = await buildSplice({ patchText: text, target: { release: FIXTURE_RELEASE } }, output);
  const info = await readModuleInfo(output);
  const field = (key: string) => info.fields[key]?.[0];
  assert.equal(info.description, 'proc: relabel MemTotal');
  assert.equal(field(SPLICE_MODINFO.version), '6.1.192-3');
  assert.equal(field(SPLICE_MODINFO.cves), 'CVE-2026-0001');
  assert.equal(field(SPLICE_MODINFO.patchSha256), report.patch.sha256);
  assert.equal(field(SPLICE_MODINFO.sourceVersion), '6.1.192-2');
  assert.equal(field(SPLICE_MODINFO.functions), 'vmlinux:meminfo_proc_show,0');
  assert.equal(field(SPLICE_MODINFO.buildId), (await targetImage(await fixtureTree())).buildId);
  assert.equal(report.splice?.buildId, field(SPLICE_MODINFO.buildId));
  assert.deepEqual(report.splice?.runPre, [{ object: 'fs/proc/meminfo.o', functions: ['meminfo_proc_show'] }]);
  // Another kernel than the running one: its layouts are judged against the image package's vmlinux BTF.
  assert.deepEqual(report.splice?.layoutCheck, [{ object: 'fs/proc/meminfo.o', against: `${(await targetImage(await fixtureTree())).vmlinux}'s .BTF section` }]);
});

test('a malformed Spliced-Version is refused while vetting, before any tree work', async () => {
  const seen: string[] = [];
  const text = `Subject: x\nSpliced-Version: latest\n\n${patchText('01-string-meminfo.patch').replace(/^[\s\S]*?(?=^--- )/m, '')}`;
  await assert.rejects(
    buildSplice({ patchText: text, target: { release: FIXTURE_RELEASE }, onProgress: (p) => seen.push(p.stage) }, '/nonexistent/x.ko'),
    (err) => isSplicedError(err, 'InvalidArgument'),
  );
  assert.deepEqual(seen, ['vet']);
});
