// The daemon as a user meets it, in the guest: installed from its Debian package (packaging/) with apt, from a local
// repository holding only the package and the Debian .debs it needs (Debian's own nodejs among them); driven with
// busctl and splicectl, its first applies and a failure shown by the packaged desktop notifier in a real session of
// an unprivileged user (daemon/notifier.sh; its screenshot is kept as evidence); through an upgrade of the package
// with the stack live, a reboot, two kill -9s, the kill switch, a damaged database and stored module, a power cut
// right after an apply, the kill -9 fault campaign (daemon/fault-campaign.sh), remove and install again, and a last
// boot with module.sig_enforce=1 (module signatures required) that ends with purge. test/guest/daemon/entry.sh holds
// the scenario.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signModule } from '../../src/build/module/sign';
import { buildKernelFixtures, FIXTURE_KERNEL } from '../fixtures/build-fixtures';
import { evidenceDir, meanBrightness, xwdToPng } from '../support/screenshot';
import { repoRoot, reportChecks, runGuest, stagePackage } from './harness';

/** The guest kernel's keyrings hold only Debian's key (and a MOK cannot be enrolled under SeaBIOS): never trusted. */
const SIGNER = 'spliced guest test key (not trusted)';

/**
 * A copy of a fixture livepatch signed with a throwaway key, the way spliced signs: scripts/sign-file and the
 * .config of the kernel's headers package (the same files a prepared tree has). The key pair goes along, as
 * DKMS's /var/lib/dkms/mok.key + mok.pub for the guest's last check.
 */
async function signedFixture(workDir: string): Promise<void> {
  const dir = join(workDir, 'signed');
  mkdirSync(dir);
  const key = join(dir, 'mok.key');
  const certificate = join(dir, 'mok.pub');
  execFileSync('openssl', [
    'req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${SIGNER}/`,
    '-keyout', key, '-outform', 'DER', '-out', certificate,
  ], { stdio: 'ignore' });
  const module = join(dir, 'spliced_lp_stack_01.ko');
  copyFileSync(join(workDir, 'fixtures', 'stack', 'spliced_lp_stack_01.ko'), module);
  await signModule({ sourceDir: `/usr/src/linux-headers-${FIXTURE_KERNEL}` }, { key, certificate, source: 'test' }, module);
  writeFileSync(join(dir, 'signer.txt'), `${SIGNER}\n`);
}

test('spliced daemon in the guest', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'daemon-suite-'));
  await buildKernelFixtures(join(workDir, 'fixtures'));
  await signedFixture(workDir);
  const staged = await stagePackage(workDir);
  await t.test('lintian finds no error or warning in the package', () => {
    assert.doesNotMatch(readFileSync(staged.lintian, 'utf8'), /^[EW]: /m);
  });
  await t.test("the local repository holds Debian's nodejs and libnode, not a Node of the host", () => {
    assert.ok(staged.debianDebs.some((deb) => /^nodejs_\d+\.\d+\.\d+\+dfsg-/.test(deb)), staged.debianDebs.join(' '));
    assert.ok(staged.debianDebs.some((deb) => deb.startsWith('libnode')), staged.debianDebs.join(' '));
  });
  copyFileSync(join(repoRoot(), 'test/guest/daemon/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({
    name: 'daemon',
    workDir,
    entry: 'entry.sh',
    // ≈ 14 min on a quiet host; 25 min ran out at host load 6–8 (2026-12-01): a stuck guest still ends well within CI's 90.
    timeoutMs: 35 * 60_000,
    maxBoots: 5,
    bootKernelArgs: [[], [], [], [], ['module.sig_enforce=1']],
  });
  await reportChecks(t, result, workDir);
  await t.test("the notifier's notifications are on the guest's screen (kept as evidence)", async (t) => {
    const file = join(evidenceDir(), 'notifier-guest-applied-and-failed.png');
    await xwdToPng(join(workDir, 'notifier-screen.xwd'), file);
    t.diagnostic(`screenshot: ${file}`);
    const brightness = await meanBrightness(file);
    assert.ok(brightness > 0.005, `the screen is not black (mean brightness ${brightness})`);
  });
});
