// The units' exposure as systemd-analyze scores it (docs/systemd.md gives the figures): a change that loosens the
// sandbox beyond them fails here. --offline: the unit files as shipped, no need for them to be installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
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

test("spliced.service: exposure at most 3.0 (no network: the feed's plan runs in the build unit)", () => {
  assert.ok(exposure(join(UNITS, 'spliced.service')) <= 3.0);
});

test('an instance of spliced-build@.service: exposure at most 1.8', () => {
  const instance = join(mkdtempSync(join(tmpdir(), 'spliced-unit-')), 'spliced-build@check.service');
  copyFileSync(join(UNITS, 'spliced-build@.service'), instance);
  assert.ok(exposure(instance) <= 1.8);
});

// ProtectSystem=strict makes /tmp read-only for the daemon, and it has no PrivateTmp= (Apply reads callers' /tmp
// paths): the tools it runs (apt-cache writes a temporary file to read a signed Release file) need a TMPDIR of its
// own, one of the runtime directories systemd creates for it.
test('spliced.service: TMPDIR is one of the runtime directories the unit creates', () => {
  const unit = readFileSync(join(UNITS, 'spliced.service'), 'utf8');
  const values = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].flatMap((m) => m[1].trim().split(/\s+/));
  const tmpdir = values('Environment').find((v) => v.startsWith('TMPDIR='))?.slice('TMPDIR='.length);
  assert.ok(tmpdir, 'no Environment=TMPDIR=');
  assert.ok(values('RuntimeDirectory').map((dir) => `/run/${dir}`).includes(tmpdir), `${tmpdir} is not a RuntimeDirectory=`);
  assert.deepEqual(values('PrivateTmp'), []);
});

test('spliced-reboot-flag.service: exposure at most 1.0 (0.9 now)', () => {
  assert.ok(exposure(join(UNITS, 'spliced-reboot-flag.service')) <= 1.0);
});
