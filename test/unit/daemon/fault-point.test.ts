// The fault campaign's seam (src/fault-point.ts): armed only by the process environment, at start; a point dies by
// SIGKILL when armed and is a no-op otherwise.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { it } from 'node:test';
import { FAULT_POINTS } from '../../../src/fault-point';
import { REPO } from '../bus/harness';

const SEAM = path.join(REPO, 'dist/src/fault-point.js');

/** Runs a process that loads the seam, then sets SPLICED_FAULT_AT to `point` itself, then reaches `point`. */
function reach(point: string, armedWith: string | undefined) {
  const script = `const { faultPoint } = require(${JSON.stringify(SEAM)});
    process.env.SPLICED_FAULT_AT = ${JSON.stringify(point)};
    faultPoint(${JSON.stringify(point)}); console.log('survived');`;
  const env = { ...process.env };
  delete env.SPLICED_FAULT_AT;
  if (armedWith !== undefined) env.SPLICED_FAULT_AT = armedWith;
  return spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
}

it('an armed point kills the process with SIGKILL; another point, or none armed, does nothing', () => {
  const killed = reach('apply-intent', 'apply-intent');
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(killed.stdout, '');
  assert.equal(reach('apply-intent', 'revert-done').stdout, 'survived\n');
  assert.equal(reach('apply-intent', undefined).stdout, 'survived\n');
});

it('the environment is read once, when the seam loads: setting it later arms nothing', () => {
  assert.equal(reach('apply-intent', undefined).stdout, 'survived\n');
});

it('the points are the ones docs/testing.md lists', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(path.join(REPO, 'docs/testing.md'), 'utf8');
  for (const point of FAULT_POINTS) assert.match(doc, new RegExp(`\`${point}\``), point);
});
