// Turns the checks an in-guest script recorded (checks.sh) into node:test subtests on the host.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { GuestResult } from './vm';

export interface GuestCheck {
  ok: boolean;
  name: string;
  detail: string;
}

export function readChecks(workDir: string): GuestCheck[] {
  const file = join(workDir, 'checks.tap');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^(ok|not ok) - (.*?)(?: # (.*))?$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ ok: m[1] === 'ok', name: m[2], detail: m[3] ?? '' }));
}

/**
 * One subtest per recorded check, then the run itself must have ended with status 0 and every expected check present
 * (a check that never ran is a failure, not a silent pass).
 */
export async function reportChecks(t: TestContext, result: GuestResult, workDir: string, expected: readonly string[] = []): Promise<void> {
  // The whole console, for the timings and what led to a failure.
  writeFileSync(join(workDir, 'console.txt'), result.console);
  const checks = readChecks(workDir);
  for (const check of checks) {
    await t.test(check.name, () => assert.ok(check.ok, check.detail));
  }
  const tail = result.console.slice(-6000);
  await t.test('guest run ended cleanly', () => {
    assert.equal(result.timedOut, false, `timed out\n${tail}`);
    assert.equal(result.exitCode, 0, `entry exit status ${result.exitCode}\n${tail}`);
  });
  const names = checks.map((c) => c.name.replace(/^boot \d+: /, ''));
  const missing = expected.filter((name) => !names.includes(name));
  await t.test('every expected check ran', () => assert.deepEqual(missing, [], tail));
}
