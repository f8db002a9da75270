// The Debian package (packaging/) installed in a clean guest from a local apt repository holding only the package and
// the Debian .debs it needs, with Debian's own nodejs: install, status, man page, a splice, upgrade with the splice
// live, reboot, remove, purge. test/guest/package/entry.sh holds the scenario.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernelFixtures } from '../fixtures/build-fixtures';
import { localAptRepo, packageDebs, repoRoot, reportChecks, runGuest } from './harness';

/**
 * Not yet in `scripts/test`: it has not passed a guest run, and building the package (a debootstrapped root, dh,
 * lintian: 9–14 min on a loaded machine) would take the suite past its 45 min. SPLICED_TEST_PACKAGE=1 runs it.
 */
const RUN = process.env.SPLICED_TEST_PACKAGE === '1';

test('the Debian package in the guest', { skip: !RUN && 'not in the default suite yet (SPLICED_TEST_PACKAGE=1 runs it): never passed a guest run, and the package build costs 9–14 min' }, async (t) => {
  const debs = packageDebs();
  await t.test('lintian finds no error or warning', () => {
    assert.doesNotMatch(readFileSync(debs.lintian, 'utf8'), /^[EW]: /m);
  });
  const workDir = mkdtempSync(join(tmpdir(), 'package-suite-'));
  const debianDebs = await localAptRepo(join(workDir, 'repo'), [debs.deb, debs.upgradeDeb], ['man-db']);
  await t.test("the local repository holds Debian's nodejs and libnode, not a Node of the host", () => {
    assert.ok(debianDebs.some((deb) => /^nodejs_\d+\.\d+\.\d+\+dfsg-/.test(deb)), debianDebs.join(' '));
    assert.ok(debianDebs.some((deb) => deb.startsWith('libnode')), debianDebs.join(' '));
  });
  writeFileSync(join(workDir, 'versions'), `${debs.version} ${debs.upgradeVersion}\n`);
  await buildKernelFixtures(join(workDir, 'fixtures'));
  copyFileSync(join(repoRoot(), 'test/guest/package/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({ name: 'package', workDir, entry: 'entry.sh', timeoutMs: 20 * 60_000, maxBoots: 2 });
  await reportChecks(t, result, workDir);
});
