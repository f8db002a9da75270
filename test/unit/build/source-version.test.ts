// Building from another linux-source version than the target's own (`spliced build --source-version`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSplice } from '../../../src/build/build';
import { resolveDebianBuild, treeCacheDir } from '../../../src/build/tree/tree';
import { isSplicedError } from '../../../src/errors';
import { FIXTURE_RELEASE, fixturePatch, scratchDir } from './kernel-tree';

test('a tree from another source is its own cache entry, named by both versions', () => {
  const own = treeCacheDir({ release: FIXTURE_RELEASE, debianVersion: '6.1.192-2' });
  const other = treeCacheDir({ release: FIXTURE_RELEASE, debianVersion: '6.1.192-2', sourceVersion: '6.1.192-1' });
  assert.match(own, /\/6\.1\.0-56-amd64-6\.1\.192-2$/);
  assert.match(other, /\/6\.1\.0-56-amd64-6\.1\.192-2\+source-6\.1\.192-1$/);
});

test("the target's own version as --source-version is no override; a malformed one is refused", async () => {
  const build = await resolveDebianBuild({ release: FIXTURE_RELEASE, sourceVersion: '6.1.192-2' });
  assert.deepEqual(build, { release: FIXTURE_RELEASE, debianVersion: '6.1.192-2' });
  assert.deepEqual(await resolveDebianBuild({ release: FIXTURE_RELEASE, sourceVersion: '6.1.192-1' }), { ...build, sourceVersion: '6.1.192-1' });
  await assert.rejects(resolveDebianBuild({ release: FIXTURE_RELEASE, sourceVersion: '../x' }), (err) => isSplicedError(err, 'InvalidArgument'));
});

test('a source version apt does not have is refused naming it', async () => {
  process.env.SPLICED_CACHE_DIR = scratchDir('source-version');
  await assert.rejects(
    buildSplice({ patchText: fixturePatch('01-string-meminfo.patch').text, target: { release: FIXTURE_RELEASE }, sourceVersion: '6.1.1-99' }, '/nonexistent.ko'),
    (err) => isSplicedError(err, 'BuildFailed') && /linux-source-6\.1 version 6\.1\.1-99/.test(err.message),
  );
});
