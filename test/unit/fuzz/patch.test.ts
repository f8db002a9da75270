// The patch readers fuzzed with mutations of the real fixture patches (every one of test/fixtures/patches, the
// Debian fix, the run-pre patch, and an mbox series made of two of them): parsePatch — with the kernel's layout and
// with a tree lookup — which runs the series splitter and the header reader, and the Apply door's recogniser. Only
// the named errors a patch may get are allowed: InvalidArgument, UnsafePatch, BuildFailed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { isSplicedError } from '../../../src/errors';
import { describeFailures, FUZZ_SEED, iterations } from './fuzz';
import { fuzzInWorker } from './run';

const PATCHES = resolve(__dirname, '../../../../test/fixtures/patches');

function fixturePatches(): string[] {
  const files = readdirSync(PATCHES, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.patch'));
  return files.sort().map((f) => readFileSync(join(PATCHES, f), 'utf8'));
}

/** Two fixtures as `git format-patch` mails of one mbox: the series path. */
function series(a: string, b: string): string {
  const mail = (subject: string, body: string) =>
    `From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] ${subject}\n\n---\n${body}`;
  return mail('one', a) + mail('two', b);
}

const COUNT = iterations(12_000);

test(`patch readers: ${COUNT} mutations of the fixture patches, only named errors`, { timeout: 120_000 }, async (t) => {
  const fixtures = fixturePatches();
  assert.ok(fixtures.length >= 20, `${fixtures.length} fixture patches`);
  const started = Date.now();
  const run = await fuzzInWorker('patch', { inputs: [...fixtures, series(fixtures[0], fixtures[1])] }, COUNT, FUZZ_SEED + 100, 30_000);
  t.diagnostic(`${COUNT} mutated patches in ${Date.now() - started} ms: ${run.accepted} parsed, ${run.refused} refused with a named error`);
  assert.equal(run.failures.length, 0, describeFailures(run.failures));
  assert.ok(run.accepted > COUNT / 10, `only ${run.accepted} mutated patches parsed: the mutations test little past the first check`);
});

test('a diff of /dev/null against /dev/null is refused (it once made the strip-level search loop forever)', () => {
  assert.throws(
    () => parsePatch('--- /dev/null\n+++ /dev/null\n@@ -0,0 +1 @@\n+x\n'),
    (err) => isSplicedError(err, 'InvalidArgument') && /\/dev\/null against \/dev\/null/.test(err.message),
  );
});
