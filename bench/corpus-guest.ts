// The guest half of the corpus evaluation: every working splice of a corpus run (bench/corpus.ts) is loaded,
// transitioned, disabled and unloaded in a guest booted on the kernel they were built for, the modules they patch
// loaded first where the guest can load them (bench/corpus-guest/run.ts, inside). One boot for all of them; a guest
// reset costs one more boot and marks the splice it happened under. Holds the shared guest lock itself when run as
//   flock /tmp/spliced-guest.lock nice -n 10 node dist/bench/corpus-guest.js [--dir DIR] [--release 6.1.0-53-amd64]
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runGuest } from '../test/guest/harness';
import type { CorpusResult } from './corpus';
import type { GuestOutcome } from './corpus-guest/run';
import { seconds } from './build-common';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const RELEASE = arg('release', '6.1.0-53-amd64');
const DIR = arg('dir', '/var/cache/spliced-test/corpus/6.1.187-1_6.1.190-1');
const MAX_BOOTS = 6;

function workingResults(dir: string): CorpusResult[] {
  const found: CorpusResult[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.json')) found.push(JSON.parse(readFileSync(join(d, e.name), 'utf8')) as CorpusResult);
    }
  };
  walk(join(dir, 'results'));
  return found.filter((r) => r.class === 'working' && r.module && existsSync(r.module)).sort((a, b) => (a.file < b.file ? -1 : 1));
}

async function main(): Promise<void> {
  const started = Date.now();
  const working = workingResults(DIR);
  const workDir = mkdtempSync(join(tmpdir(), 'corpus-guest-'));
  mkdirSync(join(workDir, 'modules'));
  const fileOf = new Map<string, string>();
  for (const r of working) {
    const name = r.module!.slice(r.module!.lastIndexOf('/') + 1);
    copyFileSync(r.module!, join(workDir, 'modules', name));
    fileOf.set(name, r.file);
  }
  copyFileSync(join(repoRoot(), 'bench/corpus-guest/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({
    name: 'corpus',
    workDir,
    entry: 'entry.sh',
    kernels: [RELEASE],
    maxBoots: MAX_BOOTS,
    memoryMiB: 2048,
    timeoutMs: (10 + working.length) * 60_000,
  });
  const resultsFile = join(workDir, 'guest-results.jsonl');
  const outcomes = existsSync(resultsFile)
    ? readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as GuestOutcome)
    : [];
  writeFileSync(join(DIR, 'guest-results.json'), JSON.stringify(outcomes.map((o) => ({ file: fileOf.get(o.module), ...o })), null, 1));
  const ok = outcomes.filter((o) => o.ok);
  const failures = new Map<string, number>();
  for (const o of outcomes.filter((x) => !x.ok)) failures.set(o.failure ?? '?', (failures.get(o.failure ?? '?') ?? 0) + 1);
  const notLoaded = outcomes.filter((o) => o.targetsNotLoaded.length > 0);
  console.log(`guest ${RELEASE}: ${working.length} working splices, ${outcomes.length} tried in ${result.boots} boot(s), exit ${result.exitCode}`);
  console.log(`loaded, transitioned, disabled and unloaded with a clean kernel log: ${ok.length}`);
  console.log(`failed: ${[...failures].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
  console.log(`target modules the guest could not load (the splice went live for them pending): ${notLoaded.length}`);
  for (const o of outcomes.filter((x) => !x.ok)) console.log(`  ${fileOf.get(o.module)}: ${o.failure}: ${(o.message ?? '').split('\n').slice(0, 3).join(' / ').slice(0, 400)}`);
  console.log(`wall time: ${seconds(Date.now() - started)}`);
  console.error(`work directory (console log in the result, files here): ${workDir}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
