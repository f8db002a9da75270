// Time to protection on the host, warm: what the distro feed does between `apt update` finishing and the apply, for
// Debian's 6.1.192-2 ext4 fix on 6.1.0-55 (6.1.192-1): the plan as the daemon runs it (a build worker job, here in a
// child process as build_isolation = process runs it: apt's view, both debs hashed against apt's index, the cached
// plan) and the one splice built from it (the
// builder library, as the daemon's build worker runs it, for 6.1.0-55: the host does not run that kernel, so the
// apply — one livepatch transition, seconds — and run-pre against the live kernel are the guest's: guest-build
// boot 2 prints the whole figure). Warm: the tree of 6.1.0-55 prepared, the sources and the plan cached (the first
// plan of a kernel and target adds ≈ 20 s: reading the changed files from both tarballs; a cold tree ≈ 1 min more).
// --cold: one run with empty tree and feed caches (temporary directories, removed after): the debs are downloaded
// through apt, the tree of 6.1.0-55 is prepared, the plan computed.
// Another update: --running RELEASE=SOURCE_VERSION --target VERSION (e.g. 6.1.0-56-amd64=6.1.192-2, 6.1.192-3).
// Run: npx tsc -p tsconfig.json && node dist/bench/feed-protection.js [--runs 3 | --cold] [--running R=V --target V]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSplice } from '../src/build/build';
import { buildFeedSplice } from '../src/sources/feed/feed-splice';
import { processRunner } from '../src/daemon/builder';
import { workerPlanner } from '../src/daemon/plan-job';
import { arg, median, runsArg, seconds, timed } from './build-common';

const [release, sourceVersion] = arg('running', '6.1.0-55-amd64=6.1.192-1').split('=');
const RUNNING = { release, sourceVersion };
const TARGET = arg('target', '6.1.192-2');

async function once(): Promise<{ plan: number; build: number; files: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-feed-'));
  try {
    const signal = new AbortController().signal;
    const planned = await timed(() => workerPlanner(processRunner(dir))(RUNNING, TARGET, signal));
    const built = await timed(() =>
      buildFeedSplice({
        plan: planned.value,
        running: RUNNING.sourceVersion,
        target: TARGET,
        builder: { build: ({ patchText }, output) => buildSplice({ patchText, target: { release: RUNNING.release } }, output).then(() => undefined) },
        output: join(dir, 'splice.ko'),
        onStep: () => undefined,
        signal,
      }),
    );
    if (!built.value.built || !built.value.complete) throw new Error(`unexpected splice: ${JSON.stringify(built.value)}`);
    return { plan: planned.ms, build: built.ms, files: [...planned.value.patchText.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Empty caches for this process and the plan's worker process. */
async function cold(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bench-feed-cold-'));
  process.env.SPLICED_CACHE_DIR = join(root, 'trees');
  process.env.SPLICED_FEED_CACHE_DIR = join(root, 'feed');
  try {
    const r = await once();
    console.log(`feed, ${RUNNING.release} (${RUNNING.sourceVersion}) -> ${TARGET}, cold (no tree, no sources, no plan):`);
    console.log(`  plan (downloads, manifests, tree preparation, delta): ${seconds(r.plan)}`);
    console.log(`  splice build (${r.files.join(', ')}, both sides compiled): ${seconds(r.build)}`);
    console.log(`  apt update finished -> module ready:                  ${seconds(r.plan + r.build)}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--cold')) return cold();
  const runs = runsArg(3);
  await once(); // fills the plan cache and the tree's pre objects
  const results: Awaited<ReturnType<typeof once>>[] = [];
  for (let i = 0; i < runs; i++) results.push(await once());
  const plan = results.map((r) => r.plan);
  const build = results.map((r) => r.build);
  const total = results.map((r) => r.plan + r.build);
  console.log(`feed, ${RUNNING.release} (${RUNNING.sourceVersion}) -> ${TARGET}, warm, ${runs} runs:`);
  console.log(`  plan (worker process, apt view + hashes + cached plan): median ${seconds(median(plan))}  [${plan.map(seconds).join(', ')}]`);
  console.log(`  splice build (${results[0].files.join(', ')}): median ${seconds(median(build))}  [${build.map(seconds).join(', ')}]`);
  console.log(`  apt update finished -> module ready:                   median ${seconds(median(total))}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
