// The daemon as a user meets it, in the guest: installed like a package, driven with busctl and splicectl, through a
// reboot, two kill -9s, the kill switch, a damaged database and stored module, and a crash (test/guest/daemon/entry.sh
// holds the scenario).
import { test } from 'node:test';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernelFixtures } from '../fixtures/build-fixtures';
import { repoRoot, reportChecks, runGuest, stageInstall } from './harness';

test('spliced daemon in the guest', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'daemon-suite-'));
  await buildKernelFixtures(join(workDir, 'fixtures'));
  stageInstall(workDir);
  copyFileSync(join(repoRoot(), 'test/guest/daemon/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({ name: 'daemon', workDir, entry: 'entry.sh', timeoutMs: 12 * 60_000, maxBoots: 4 });
  await reportChecks(t, result, workDir);
});
