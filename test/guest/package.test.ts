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
 * Not yet in `scripts/test`: it passes (2026-11-30), but adds more than the suite's 45 min leave (docs/testing.md:
 * 17.5 min at host load 10–14, of which ≈ 13 min the two TCG boots, ≈ 4 min of them apt installing Debian's nodejs),
 * and it does not yet share the daemon suite's boots. SPLICED_TEST_PACKAGE=1 runs it.
 */
const RUN = process.env.SPLICED_TEST_PACKAGE === '1';

test('the Debian package in the guest', { skip: !RUN && 'not in the default suite yet (SPLICED_TEST_PACKAGE=1 runs it): it passes, but does not fit the 45 min budget yet (docs/testing.md)' }, async (t) => {
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
