// Run-pre of module code on a build host: pre objects against the target's .ko from Debian's image package, laid out
// and relocated like the module loader would. The run-pre fixture is checked against both kernels it is about:
// 6.1.0-56 (whose source it comes from: match) and 6.1.0-55 (older ext4 code: mismatch). Prepares the
// (6.1.0-55-amd64, source 6.1.192-2) tree on first use (≈ 50 s, 1.7 GB), as the guest suite's setup does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSplice } from '../../../src/build/build';
import { diffObjects, DiffResult } from '../../../src/build/differ/diff';
import { runPreCheck } from '../../../src/build/runpre/check';
import { moduleFileSource } from '../../../src/build/runpre/module-source';
import { targetModuleFiles } from '../../../src/build/tree/target-image';
import { prepareTree, Tree } from '../../../src/build/tree/tree';
import { isSplicedError } from '../../../src/errors';
import { fixturePairs, fixtureTree, PATCHES, scratchDir } from './kernel-tree';

const FIXTURE = 'run-pre/ext4-mballoc-newer-source.patch';
const BASE = 0xffffffffc0000000n;
const tree55 = () => prepareTree({ release: '6.1.0-55-amd64', debianVersion: '6.1.192-1', sourceVersion: '6.1.192-2' });

async function ext4Of(tree: Tree): Promise<Buffer> {
  const ko = (await targetModuleFiles(tree, ['ext4'])).get('ext4');
  assert.ok(ko, `the image package of ${tree.release} has ext4.ko`);
  return ko;
}

async function diffOf(fixture: string): Promise<DiffResult> {
  const [pair] = await fixturePairs(fixture);
  assert.equal(pair.module, 'ext4');
  return diffObjects(readFileSync(pair.pre), readFileSync(pair.post), { module: 'ext4' });
}

test("ext4_attr_show's pre object matches Debian's ext4.ko of 6.1.0-56", async () => {
  const result = runPreCheck(await diffOf('09-ext4-sysfs.patch'), 'ext4', moduleFileSource('ext4', await ext4Of(await fixtureTree()), BASE));
  assert.deepEqual(result.functions.map((f) => [f.name, f.sympos]), [['ext4_attr_show', 0]]);
});

test('the run-pre fixture matches 6.1.0-56 (its source) and not 6.1.0-55, whose ext4_mb_load_buddy_gfp lacks the fix', async () => {
  const diff = await diffOf(FIXTURE);
  const matched = runPreCheck(diff, 'ext4', moduleFileSource('ext4', await ext4Of(await fixtureTree()), BASE));
  assert.deepEqual(matched.functions.map((f) => f.name), ['ext4_mb_load_buddy_gfp']);
  const ext4Of55 = await ext4Of(await tree55());
  assert.throws(
    () => runPreCheck(diff, 'ext4', moduleFileSource('ext4', ext4Of55, BASE)),
    (err) => isSplicedError(err, 'RunPreMismatch') && err.details.function === 'ext4_mb_load_buddy_gfp',
  );
});

test('spliced build for 6.1.0-55 from linux-source 6.1.192-2 refuses the fixture, naming the function and the source', async () => {
  await tree55();
  const patchText = readFileSync(join(PATCHES, FIXTURE), 'utf8');
  const output = join(scratchDir('runpre-module'), 'out.ko');
  await assert.rejects(
    buildSplice({ patchText, target: { release: '6.1.0-55-amd64' }, sourceVersion: '6.1.192-2' }, output),
    (err) =>
      isSplicedError(err, 'RunPreMismatch') &&
      err.details.function === 'ext4_mb_load_buddy_gfp' &&
      err.details.sourceVersion === '6.1.192-2' &&
      /ext4_mb_load_buddy_gfp.*compiled from linux-source-6\.1 6\.1\.192-2/.test(err.message),
  );
});
