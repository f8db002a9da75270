// Splices built from kernel source patches by `spliced build` on the host, as a build host would, then applied in the
// guest on the kernel they were built for (test/guest/builder/entry.sh). The patches and what each must give are in
// test/fixtures/patches/ (Expect: module, or the named refusal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { patchCases } from '../fixtures/patches/cases';
import { DEFAULT_KERNEL, repoRoot, reportChecks, runGuest, stageInstall } from './harness';

const run = promisify(execFile);

interface BuildOutcome {
  exitCode: number;
  report: { ok: boolean; error?: { kind: string; message: string } };
}

async function splicedBuild(patch: string, kernel: string, output: string): Promise<BuildOutcome> {
  const args = [join(repoRoot(), 'dist/src/daemon/main.js'), 'build', '--kernel-release', kernel, patch, '-o', output, '--json'];
  try {
    const { stdout } = await run(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
    return { exitCode: 0, report: JSON.parse(stdout) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    let report: BuildOutcome['report'];
    try {
      report = JSON.parse(e.stdout ?? '');
    } catch {
      report = { ok: false, error: { kind: 'unparsable', message: `${e.stdout ?? ''}${e.stderr ?? ''}` } };
    }
    return { exitCode: typeof e.code === 'number' ? e.code : -1, report };
  }
}

/** Runs the builds, `width` at a time, and returns their outcomes in order. */
async function buildAll(builds: (() => Promise<BuildOutcome>)[], width: number): Promise<BuildOutcome[]> {
  const outcomes: BuildOutcome[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < builds.length; i = next++) outcomes[i] = await builds[i]();
  };
  await Promise.all(Array.from({ length: width }, lane));
  return outcomes;
}

test('splices built from kernel patches apply, work and revert in the guest', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'builder-suite-'));
  mkdirSync(join(workDir, 'modules'));
  const applicable: string[] = [];
  // One boot per kernel the patches are built for, the default kernel's first.
  const kernels = [...new Set([DEFAULT_KERNEL, ...patchCases().map((p) => p.kernel ?? DEFAULT_KERNEL)])];
  // Two builds at a time (the builder's tree lock covers compile and link; the differ and run-pre overlap).
  const cases = patchCases();
  const outcomes = await buildAll(cases.map((patch) => () => splicedBuild(patch.path, patch.kernel ?? DEFAULT_KERNEL, join(workDir, 'modules', `${basename(patch.file, '.patch')}.ko`))), 2);
  for (const [i, patch] of cases.entries()) {
    const name = basename(patch.file, '.patch');
    const module = `${name}.ko`;
    const kernel = patch.kernel ?? DEFAULT_KERNEL;
    const outcome = outcomes[i];
    await t.test(`spliced build ${patch.file} for ${kernel} (${patch.case}) gives ${patch.expect}`, () => {
      if (patch.expect === 'module') {
        assert.equal(outcome.exitCode, 0, JSON.stringify(outcome.report.error));
        assert.ok(existsSync(join(workDir, 'modules', module)));
      } else {
        assert.notEqual(outcome.exitCode, 0, 'the build must be refused');
        assert.equal(outcome.report.error?.kind, patch.expect, outcome.report.error?.message);
      }
    });
    if (patch.expect === 'module' && outcome.exitCode === 0) applicable.push([kernel, name, module, patch.afterApply ?? 'true', patch.check].join('\t'));
  }
  if (applicable.length === 0) return; // every build failed above; nothing to take to the guest
  writeFileSync(join(workDir, 'modules.tsv'), applicable.join('\n') + '\n');
  writeFileSync(join(workDir, 'kernels'), kernels.join('\n') + '\n');
  stageInstall(workDir);
  copyFileSync(join(repoRoot(), 'test/guest/builder/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({ name: 'builder', workDir, entry: 'entry.sh', kernels, maxBoots: kernels.length, timeoutMs: 15 * 60_000 * kernels.length });
  await reportChecks(t, result, workDir);
});
