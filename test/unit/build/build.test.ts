import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildProgress, buildSplice, compilePairs } from '../../../src/build/build';
import { isSplicedError } from '../../../src/errors';
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
