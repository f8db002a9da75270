// The feed's Debian changelog reader fuzzed with mutations of the real changelog excerpt: parseChangelog, then what
// the feed does with its entries (entriesBetween, filesNamedBy). It names no errors: nothing may be thrown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeFailures, FUZZ_SEED, iterations } from './fuzz';
import { fuzzInWorker } from './run';

const EXCERPT = readFileSync(resolve(__dirname, '../../../../test/fixtures/feed/changelog-excerpt.txt'), 'utf8');
const COUNT = iterations(8000);

test(`changelog reader: ${COUNT} mutations of a real changelog, nothing thrown`, { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const run = await fuzzInWorker('changelog', { inputs: [EXCERPT] }, COUNT, FUZZ_SEED + 200, 30_000);
  t.diagnostic(`${COUNT} mutated changelogs in ${Date.now() - started} ms: ${run.accepted} read`);
  assert.equal(run.failures.length, 0, describeFailures(run.failures));
});
