// The livepatch backend proven on Debian's real 6.1 kernel: one guest boot runs test/guest/in-guest/kernel.itest.ts
// (own fixtures, Linux's test_klp modules and selftest expectations, every typed error) and the apply/revert bench.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKernelSuite } from './kernel-suite';

test('kernel livepatch backend in the guest', { timeout: 20 * 60_000 }, async () => {
  // The bench's table with 3 runs per module (the bench itself, bench/kernel-apply.js, takes 7): here it shows the
  // bench runs on the real kernel; each run is ≈ 3 s under TCG, 24 s saved.
  const run = await runKernelSuite({ tests: true, bench: true, benchRuns: 3 });
  const tail = run.guest.console.slice(-4000);
  assert.equal(run.guest.timedOut, false, `guest timed out:\n${tail}`);
  assert.equal(run.guest.exitCode, 0, `guest entry failed:\n${tail}`);
  assert.ok(run.tap, `the in-guest tests produced no TAP:\n${tail}`);
  console.log(`--- guest booted to the entry script in ${run.bootSeconds} s; TAP of kernel.itest ---\n${run.tap}`);
  if (run.bench) console.log(`--- guest bench (kernel-apply) ---\n${run.bench}`);
  const failed = run.tap.split('\n').filter((line) => line.startsWith('not ok'));
  assert.deepEqual(failed, [], 'every in-guest test passed');
  assert.ok(/^# fail 0$/m.test(run.tap) && /^# pass [1-9]\d*$/m.test(run.tap), 'the guest TAP summary reports passes and no failure');
  assert.equal(run.tapExitCode, 0);
  assert.equal(run.benchExitCode, 0, 'the in-guest bench ran');
  for (const module of ['spliced_lp_cmdline', 'test_klp_livepatch']) {
    assert.match(run.bench ?? '', new RegExp(`^${module} +3 +\\d+ `, 'm'), `the bench's row of ${module}, 3 runs`);
  }
});
