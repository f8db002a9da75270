// One guest boot for the kernel suite: fixtures built on the host, the in-guest node:test file and the apply/revert
// bench run inside, their output brought back.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernelFixtures, FIXTURE_KERNEL } from '../fixtures/build-fixtures';
import { runGuest, type GuestResult } from './harness';

export interface KernelSuiteRun {
  guest: GuestResult;
  /** TAP of the in-guest tests, undefined when they were not run. */
  tap?: string;
  tapExitCode?: number;
  bench?: string;
  benchExitCode?: number;
  /** Seconds from kernel start to the entry script (guest /proc/uptime). */
  bootSeconds?: number;
}

/** What the boot runs; `benchRuns` sets the bench's runs per module (bench/kernel-apply-guest.ts: 7 unless given). */
interface SuiteParts {
  tests: boolean;
  bench: boolean;
  benchRuns?: number;
}

const ENTRY = (parts: SuiteParts) => `
cd "$GUEST_WORK"
cut -d' ' -f1 /proc/uptime > boot-uptime.txt
${parts.tests ? 'node --test --test-reporter=tap "$SPLICED_SRC/dist/test/guest/in-guest/kernel.itest.js" > kernel.tap 2>&1; echo $? > kernel.rc' : ''}
${parts.bench ? `${parts.benchRuns ? `BENCH_RUNS=${parts.benchRuns} ` : ''}node "$SPLICED_SRC/dist/bench/kernel-apply-guest.js" > bench.txt 2>&1; echo $? > bench.rc` : ''}
exit 0
`;

function readIfThere(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

export async function runKernelSuite(parts: SuiteParts): Promise<KernelSuiteRun> {
  const workDir = mkdtempSync(join(tmpdir(), 'spliced-kernel-'));
  await buildKernelFixtures(join(workDir, 'fixtures'));
  writeFileSync(join(workDir, 'entry.sh'), ENTRY(parts));
  const guest = await runGuest({
    name: 'kernel',
    workDir,
    entry: 'entry.sh',
    kernels: [FIXTURE_KERNEL],
    timeoutMs: 15 * 60_000,
    maxBoots: 1,
  });
  const number = (file: string) => {
    const text = readIfThere(join(workDir, file));
    return text === undefined ? undefined : Number(text.trim());
  };
  const run = {
    guest,
    tap: readIfThere(join(workDir, 'kernel.tap')),
    tapExitCode: number('kernel.rc'),
    bench: readIfThere(join(workDir, 'bench.txt')),
    benchExitCode: number('bench.rc'),
    bootSeconds: number('boot-uptime.txt'),
  };
  rmSync(workDir, { recursive: true, force: true }); // everything worth keeping is in `run`
  return run;
}
