// In the guest: apply latency (file given to load → transition finished) and revert latency (disable → transition
// finished → module unloaded) of a livepatch through the backend, median of RUNS runs, printed as a table.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KernelBackend } from '../src/kernel';
import { kernelFixtures } from '../test/fixtures/kernel-fixtures';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const work = process.env.GUEST_WORK;
  if (!work) throw new Error('run inside the test guest (GUEST_WORK unset)');
  const kernel = new KernelBackend();
  const fixtures = kernelFixtures(join(work, 'fixtures'));
  const cases = [
    { label: 'spliced_lp_cmdline', path: fixtures.own('spliced_lp_cmdline') },
    { label: 'test_klp_livepatch', path: fixtures.klp('test_klp_livepatch') },
  ];
  const rows: string[] = [];
  for (const { label, path } of cases) {
    const apply: number[] = [];
    const revert: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const loaded = await kernel.load(path);
      apply.push(loaded.durationMs);
      const started = performance.now();
      await kernel.revert(loaded.patch);
      revert.push(performance.now() - started);
    }
    const fmt = (v: number) => v.toFixed(0).padStart(8);
    rows.push(`${label.padEnd(20)} ${String(RUNS).padStart(4)} ${fmt(median(apply))} ${fmt(Math.min(...apply))} ${fmt(Math.max(...apply))} ${fmt(median(revert))} ${fmt(Math.min(...revert))} ${fmt(Math.max(...revert))}`);
  }
  console.log(`kernel ${(await kernel.identity()).release}, times in ms`);
  console.log(`${'module'.padEnd(20)} runs apply:med      min      max revert:med     min      max`);
  for (const row of rows) console.log(row);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
