// spliced under a bounded flood from an unprivileged client, in the test guest (Debian's 6.1 kernel under QEMU/TCG,
// spliced installed like a package, the real dbus-daemon and polkit, 10 patches applied): test/guest/flood/run.ts in
// several rounds in one boot. Prints side by side the medians over the rounds: List p50/p99 idle, during the flood and
// while root applies and reverts a livepatch (p99 ratio to idle), the daemon's fds and RSS before / at the peak /
// after (ratio), calls/s; then each round. List is timed as SAMPLER_USER: root (the admin) by default, or tester to
// see what the flood costs the flooding user's own other connection. Targets from issue 9: List p99 within 2× of
// idle, fds and RSS flat.
// Run: npx tsc -p tsconfig.json && node dist/bench/flood-guest.js [CALLS_PER_ROUND [ROUNDS [SAMPLER_USER]]]
//      (default 10000 5 root)
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernelFixtures } from '../test/fixtures/build-fixtures';
import type { Report, RoundReport } from '../test/guest/flood/run';
import { median } from '../test/guest/flood/stats';
import { repoRoot, runGuest, stageInstall } from '../test/guest/harness';

const ms = (v: number) => v.toFixed(2);
const mb = (kb: number) => (kb / 1024).toFixed(1);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

function printReport(report: Report, calls: number): void {
  const rounds = report.rounds;
  const m = (pick: (r: RoundReport) => number | undefined) => median(rounds.map(pick).filter((v): v is number => v !== undefined));
  const idleP99 = m((r) => r.latency.idle.p99);
  const row = (what: string, ...cells: string[]) => console.log(`  ${what.padEnd(26)}${cells.map((c) => c.padEnd(22)).join('')}`);
  console.log(
    `spliced flooded from an unprivileged client (tester), List timed as ${report.samplerUser} ` +
      `(guest: TCG, 2 vCPU; ${calls} calls per round, medians of ${rounds.length} rounds; daemon alive: ${report.alive})`,
  );
  row('', 'idle', 'during the flood', 'during an apply');
  row('List p50 (ms)', ms(m((r) => r.latency.idle.p50)), ms(m((r) => r.latency.flood.p50)), ms(m((r) => r.latency.apply?.p50)));
  row(
    'List p99 (ms), ×idle p99',
    ms(idleP99),
    `${ms(m((r) => r.latency.flood.p99))} (${ratio(m((r) => r.latency.flood.p99), idleP99)})`,
    `${ms(m((r) => r.latency.apply?.p99))} (${ratio(m((r) => r.latency.apply?.p99), idleP99)})`,
  );
  row('List samples', `${m((r) => r.latency.idle.samples)}`, `${m((r) => r.latency.flood.samples)}`, `${m((r) => r.latency.apply?.samples)} (while busy)`);
  row('', 'before', 'peak', 'after (×before)');
  const fdsBefore = m((r) => r.daemon.before.fds);
  const fdsAfter = m((r) => r.daemon.afterFlood.fds);
  row('daemon fds', `${fdsBefore}`, `${m((r) => r.daemon.peak.fds)}`, `${fdsAfter} (${ratio(fdsAfter, fdsBefore)})`);
  const rssBefore = m((r) => r.daemon.before.rssKb);
  const rssAfter = m((r) => r.daemon.afterFlood.rssKb);
  row('daemon RSS (MB)', mb(rssBefore), mb(m((r) => r.daemon.peak.rssKb)), `${mb(rssAfter)} (${ratio(rssAfter, rssBefore)})`);
  const first = rounds[0].daemon.before.rssKb;
  const last = rounds[rounds.length - 1].daemon.afterFlood.rssKb;
  row('RSS first → last round', `${mb(first)} → ${mb(last)} (${ratio(last, first)})`);
  row('calls/s (flood)', `${m((r) => r.flood.callsPerSecond)}`);
  row('round (s)', `${(m((r) => r.ms) / 1000).toFixed(1)}`);
  console.log('  each round: calls/s, unanswered, mismatched; List p99 idle / flood / apply ms; fds before/peak/after; RSS MB before/peak/after');
  for (const [i, r] of rounds.entries()) {
    const mismatched = Object.values(r.flood.mismatches).reduce((a, b) => a + b.count, 0);
    console.log(
      `  ${i + 1}: ${r.flood.callsPerSecond}/s, ${r.flood.unanswered}, ${mismatched}; ${ms(r.latency.idle.p99)} / ${ms(r.latency.flood.p99)} / ` +
        `${ms(r.latency.apply?.p99 ?? Number.NaN)}; ${r.daemon.before.fds}/${r.daemon.peak.fds}/${r.daemon.afterFlood.fds}; ` +
        `${mb(r.daemon.before.rssKb)}/${mb(r.daemon.peak.rssKb)}/${mb(r.daemon.afterFlood.rssKb)}`,
    );
  }
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 10_000);
  const rounds = Number(process.argv[3] ?? 5);
  const samplerUser = process.argv[4] ?? 'root';
  const workDir = mkdtempSync(join(tmpdir(), 'flood-bench-'));
  try {
    await buildKernelFixtures(join(workDir, 'fixtures'));
    stageInstall(workDir);
    copyFileSync(join(repoRoot(), 'bench/flood-guest/entry.sh'), join(workDir, 'entry.sh'));
    writeFileSync(join(workDir, 'counts.txt'), `${calls} ${rounds} ${samplerUser}\n`);
    const run = await runGuest({ name: 'flood-bench', workDir, entry: 'entry.sh', timeoutMs: 60 * 60_000, maxBoots: 1 });
    if (run.exitCode !== 0) throw new Error(`guest bench failed (exit ${run.exitCode}):\n${run.console.slice(-4000)}`);
    printReport(JSON.parse(readFileSync(join(workDir, 'flood.json'), 'utf8')) as Report, calls);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
