// The guest half of the corpus evaluation: every working splice of a corpus run (bench/corpus.ts) is loaded,
// transitioned, disabled and unloaded in a guest booted on the kernel they were built for, the modules they patch
// loaded first where the guest can load them (bench/corpus-guest/run.ts, inside). One boot for all of them; a guest
// reset costs one more boot and marks the splice it happened under. Resumable: a splice whose module (by sha256) has a
// result in DIR/guest-results.json is not tried again (--all tries every one; --limit N tries the first N of them in
// the corpus's hash order, a sample spread over the tree). Run under the shared guest lock:
//   flock /tmp/spliced-guest.lock nice -n 10 node dist/bench/corpus-guest.js [--dir DIR] [--release 6.1.0-53-amd64] [--all] [--limit N]
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runGuest } from '../test/guest/harness';
import type { CorpusResult } from './corpus';
import type { GuestOutcome } from './corpus-guest/run';
import { CorpusGuestResult, moduleSha256, readGuestResults } from './corpus-guest/results';
import { arg, seconds } from './build-common';


const RELEASE = arg('release', '6.1.0-53-amd64');
const DIR = arg('dir', '/var/cache/spliced-test/corpus/6.1.187-1_6.1.190-1');
const MAX_BOOTS = 6;
const ALL = process.argv.includes('--all');
const LIMIT = Number(arg('limit', 'Infinity'));
const hashOf = (file: string) => createHash('sha256').update(file).digest('hex');

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
  const previous = ALL ? [] : readGuestResults(DIR);
  const tried = new Set(previous.map((r) => r.sha256));
  const working = workingResults(DIR)
    .filter((r) => !tried.has(moduleSha256(r.module!)))
    .sort((a, b) => (hashOf(a.file) < hashOf(b.file) ? -1 : 1))
    .slice(0, LIMIT);
  if (working.length === 0) {
    console.log(`guest ${RELEASE}: every working splice has a guest result (--all tries them again)`);
    return;
  }
  const workDir = mkdtempSync(join(tmpdir(), 'corpus-guest-'));
  mkdirSync(join(workDir, 'modules'));
  const fileOf = new Map<string, { file: string; sha256: string }>();
  for (const r of working) {
    const name = r.module!.slice(r.module!.lastIndexOf('/') + 1);
    copyFileSync(r.module!, join(workDir, 'modules', name));
    fileOf.set(name, { file: r.file, sha256: moduleSha256(r.module!) });
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
  const fresh: CorpusGuestResult[] = outcomes.map((o) => ({ ...fileOf.get(o.module)!, ...o }));
  const kept = previous.filter((p) => !fresh.some((f) => f.file === p.file));
  writeFileSync(join(DIR, 'guest-results.json'), JSON.stringify([...kept, ...fresh].sort((a, b) => (a.file < b.file ? -1 : 1)), null, 1));
  const ok = outcomes.filter((o) => o.ok);
  const failures = new Map<string, number>();
  for (const o of outcomes.filter((x) => !x.ok)) failures.set(o.failure ?? '?', (failures.get(o.failure ?? '?') ?? 0) + 1);
  const notLoaded = outcomes.filter((o) => o.targetsNotLoaded.length > 0);
  console.log(`guest ${RELEASE}: ${working.length} working splices, ${outcomes.length} tried in ${result.boots} boot(s), exit ${result.exitCode}`);
  console.log(`loaded, transitioned, disabled and unloaded with a clean kernel log: ${ok.length}`);
  console.log(`failed: ${[...failures].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
  console.log(`target modules the guest could not load (the splice went live for them pending): ${notLoaded.length}`);
  for (const o of outcomes.filter((x) => !x.ok)) console.log(`  ${fileOf.get(o.module)?.file}: ${o.failure}: ${(o.message ?? '').split('\n').slice(0, 3).join(' / ').slice(0, 400)}`);
  console.log(`wall time: ${seconds(Date.now() - started)}`);
  console.error(`work directory (console log in the result, files here): ${workDir}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
