// The harness itself, as its users rely on it: kernel per boot, in-guest reboot, results and status back on the host,
// the repository share read-only, runs side by side, a boot stuck before the entry script. The tests run at once too:
// the hung guests idle until their deadlines, which would otherwise be a minute of the suite spent waiting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_KERNELS, runGuest } from './harness';

function workDir(script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'harness-test-'));
  writeFileSync(join(dir, 'entry.sh'), script);
  return dir;
}

describe('the guest harness', { concurrency: true }, () => {
  test('two boots on two kernels, a reboot asked by the guest, results and exit status returned', async () => {
    const dir = workDir(`
  set -e
  echo "boot=$GUEST_BOOT release=$(uname -r) node=$(node --version) user=$(id -u tester)" >> "$GUEST_WORK/boots.txt"
  test -d /sys/kernel/livepatch
  if touch "$SPLICED_SRC/should-not-exist" 2>/dev/null; then echo "repo share is writable" >&2; exit 3; fi
  systemctl is-active dbus.service >/dev/null
  if [ "$GUEST_BOOT" = 1 ]; then exit 99; fi
  exit 7
  `);
    const result = await runGuest({ name: 'harness', workDir: dir, entry: 'entry.sh', kernels: [...GUEST_KERNELS], timeoutMs: 5 * 60_000, maxBoots: 3 });
    assert.equal(result.timedOut, false, result.console.slice(-4000));
    assert.equal(result.exitCode, 7, result.console.slice(-4000));
    assert.equal(result.boots, 2);
    const lines = readFileSync(join(dir, 'boots.txt'), 'utf8').trim().split('\n');
    assert.match(lines[0], new RegExp(`^boot=1 release=${GUEST_KERNELS[0]} node=v2\\d\\.\\S+ user=1000$`));
    assert.match(lines[1], new RegExp(`^boot=2 release=${GUEST_KERNELS[1]} `));
  });

  test('a run past its deadline is stopped and reported as timed out; another run beside it is unaffected', async () => {
    const hang = runGuest({ name: 'hang', workDir: workDir('sleep 1000\n'), entry: 'entry.sh', timeoutMs: 40_000 });
    const quick = runGuest({ name: 'quick', workDir: workDir('exit 0\n'), entry: 'entry.sh', timeoutMs: 4 * 60_000 });
    const [hung, done] = await Promise.all([hang, quick]);
    assert.equal(hung.timedOut, true);
    assert.equal(hung.exitCode, null);
    assert.equal(done.exitCode, 0, done.console.slice(-3000));
  });

  test('a boot stuck before the entry script is booted again once, then the run ends as timed out', async () => {
    // init sleeps: the guest never gets to guest-runner.
    const stuck = await runGuest({
      name: 'stuck', workDir: workDir('exit 0\n'), entry: 'entry.sh', timeoutMs: 4 * 60_000, bootStallMs: 25_000,
      kernelArgs: ['init=/bin/sleep', '--', '1000'],
    });
    assert.equal(stuck.timedOut, true);
    assert.equal(stuck.boots, 1);
    assert.match(stuck.console, /boot 1 had not started the entry script after 25 s: stopped, booted again ===/);
    assert.match(stuck.console, /boot 1 had not started the entry script after 25 s: stopped ===/);
  });
});
