// Builds running at once against one prepared tree (the daemon forks a worker per queued patch; `spliced build` may
// run beside it). Tree-dependent: uses the fixture kernel's prepared tree (kernel-tree.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSplice } from '../../../src/build/build';
import { generateSplice } from '../../../src/build/splice';
import { withTreeLock } from '../../../src/build/tree/tree';
import { readModuleInfo } from '../../../src/kernel/modinfo';
import { SPLICE_MODINFO } from '../../../src/kernel/splice-modinfo';
import { FIXTURE_RELEASE, fixturePairs, fixturePatch, fixtureTree, PATCHES, scratchDir } from './kernel-tree';

const patchText = (name: string) => readFileSync(join(PATCHES, name), 'utf8');
const functionsOf = async (ko: string) => (await readModuleInfo(ko)).fields[SPLICE_MODINFO.functions]?.[0];

test('two builds started together against one tree both succeed, each with its own module', async () => {
  await fixtureTree();
  const dir = scratchDir('concurrent');
  // One of them in kpatch's src.orig/ src/ form: published forms go through the same tree.
  const kpatchForm = patchText('01-string-meminfo.patch').replace('--- a/', '--- src.orig/').replace('+++ b/', '+++ src/');
  const started = Date.now();
  const [meminfo, uptime] = await Promise.all([
    buildSplice({ patchText: kpatchForm, target: { release: FIXTURE_RELEASE } }, join(dir, 'meminfo.ko')),
    buildSplice({ patchText: patchText('02-logic-uptime.patch'), target: { release: FIXTURE_RELEASE } }, join(dir, 'uptime.ko')),
  ]);
  const wallMs = Date.now() - started;
  assert.equal(await functionsOf(join(dir, 'meminfo.ko')), 'vmlinux:meminfo_proc_show,0');
  assert.equal(await functionsOf(join(dir, 'uptime.ko')), 'vmlinux:uptime_proc_show,0');
  assert.equal(meminfo.compiled.repairedTree || uptime.compiled.repairedTree, false, 'neither found the tree patched by the other');
  console.log(`two builds at once: ${(wallMs / 1000).toFixed(1)} s wall; ${(meminfo.totalMs / 1000).toFixed(1)} s and ${(uptime.totalMs / 1000).toFixed(1)} s each`);
});

test('the module link does not read the tree while another build holds it (a patch may be applied there)', async () => {
  const tree = await fixtureTree();
  const pairs = await fixturePairs('02-logic-uptime.patch');
  const compiled = { pairs, headers: [], notBuilt: [], repairedTree: false, reusedPost: [], durationMs: 0 };
  const input = { tree, patch: fixturePatch('02-logic-uptime.patch'), compiled, output: join(scratchDir('linkwait'), 'x.ko'), workDir: scratchDir('linkwork') };
  // Warm the target image and the differ's inputs outside the window measured below.
  await generateSplice(input);
  let doneAt = 0;
  let releasedAt = 0;
  let building: Promise<unknown> = Promise.resolve();
  await withTreeLock(tree, async () => {
    building = generateSplice(input).then(() => (doneAt = Date.now()));
    // Long enough for the differ and run-pre of one object; the link must then wait for this lock.
    await Promise.race([building, new Promise((r) => setTimeout(r, 20_000))]);
    releasedAt = Date.now();
  });
  await building;
  assert.ok(doneAt > releasedAt, `the module was linked ${releasedAt - doneAt} ms before the other build released the tree`);
});
