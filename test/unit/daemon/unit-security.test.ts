// The units' exposure as systemd-analyze scores it (docs/systemd.md gives the figures): a change that loosens the
// sandbox beyond them fails here. --offline: the unit files as shipped, no need for them to be installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const UNITS = resolve(__dirname, '../../../../units');

function exposure(unitFile: string): number {
  let output: string;
  try {
    output = execFileSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unitFile], { encoding: 'utf8' });
  } catch (err) {
    output = String((err as { stdout?: string }).stdout ?? '');
  }
  const score = /Overall exposure level for \S+: (\d+\.\d)/.exec(output)?.[1];
  assert.ok(score, `systemd-analyze printed no score:\n${output.slice(-500)}`);
  return Number(score);
}

test('spliced.service: exposure at most 3.9', () => {
  assert.ok(exposure(join(UNITS, 'spliced.service')) <= 3.9);
});

test('an instance of spliced-build@.service: exposure at most 2.0 (1.8 now)', () => {
  const instance = join(mkdtempSync(join(tmpdir(), 'spliced-unit-')), 'spliced-build@check.service');
  copyFileSync(join(UNITS, 'spliced-build@.service'), instance);
  assert.ok(exposure(instance) <= 2.0);
});

test('spliced-reboot-flag.service: exposure at most 1.0 (0.9 now)', () => {
  assert.ok(exposure(join(UNITS, 'spliced-reboot-flag.service')) <= 1.0);
});
