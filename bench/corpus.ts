// The corpus evaluation (issue 8, Deliver 7): Debian's own stable update between two linux-source-6.1 versions, cut
// into one patch per changed .c file that the older build compiles (the feed's delta: kbuild's object list decides),
// each built by the builder for the kernel that runs the older version, and classed: working splice, no change,
// refused for a live-patching limit (by reason), patched side does not compile on its own, or broken. Results are
// cached per file, so a run resumes where it stopped; the modules are kept for the guest half (bench/corpus-guest.ts),
// whose results the table shows beside the working ones. `--headers` instead prints, for each header the update
// changes, how many of the older build's units it reaches through #include (what a header patch compiles, capped by
// max_header_units), without compiling anything.
// Run: nice -n 10 node dist/bench/corpus.js [--from 6.1.187-1] [--to 6.1.190-1] [--release 6.1.0-53-amd64]
//        [--dir /var/cache/spliced-test/corpus/<from>_<to>] [--jobs 2] [--retry broken|all] [--only FILE]... [--show 40] [--report]
//        [--headers]

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { buildSplice } from '../src/build/build';
import { includeGraph } from '../src/build/compile/include-graph';
import { DEFAULT_MAX_HEADER_UNITS, reachOf } from '../src/build/compile/includers';
import { objectIndex } from '../src/build/tree/objects';
import { targetModuleFiles, targetModuleSameNamed } from '../src/build/tree/target-image';
import { DebianBuild, prepareTree } from '../src/build/tree/tree';
import { SplicedError } from '../src/errors';
import { computeDelta, Delta, DeltaFile } from '../src/sources/feed/delta';
import { sideOf, treeDeltaContext } from '../src/sources/feed/plan';
import { cachedSource } from '../src/sources/feed/source-cache';
import { arg, seconds } from './build-common';
import { moduleSha256, readGuestResults } from './corpus-guest/results';

if (process.argv.includes('--help')) {
  console.log('nice -n 10 node dist/bench/corpus.js [--from 6.1.187-1] [--to 6.1.190-1] [--release 6.1.0-53-amd64] [--dir DIR]');
  console.log('    [--jobs 2] [--retry broken|all] [--only FILE]... [--show 40] [--report] [--headers]   (docs/build.md, "The corpus")');
  process.exit(0);
}
const allArgs = (name: string) => process.argv.flatMap((a, i) => (a === `--${name}` ? [process.argv[i + 1]] : []));

const FROM = arg('from', '6.1.187-1');
const TO = arg('to', '6.1.190-1');
const RELEASE = arg('release', '6.1.0-53-amd64');
const DIR = path.resolve(arg('dir', `/var/cache/spliced-test/corpus/${FROM}_${TO}`));
const JOBS = Number(arg('jobs', '2'));
const RETRY = arg('retry', '');
const ONLY = allArgs('only');
const SHOW = Number(arg('show', '40'));
/** Only print the table of the results cached so far (builds nothing). */
const REPORT_ONLY = process.argv.includes('--report');
/** Only measure what the update's changed headers reach (compiles nothing). */
const HEADERS = process.argv.includes('--headers');
const SERIES = '6.1';
const FLAVOUR = RELEASE.slice(RELEASE.lastIndexOf('-') + 1);

export type CorpusClass = 'working' | 'no change' | 'refused' | 'does not compile alone' | 'broken';

export interface CorpusResult {
  file: string;
  class: CorpusClass;
  /** The refusal's named reason, or for broken the error kind (and side or step). */
  reason?: string;
  message?: string;
  /** Working: the module and what it replaces. */
  module?: string;
  functions?: number;
  ms: number;
}

/** The delta, computed once and kept (two source debs streamed, one #include walk per not-compiled .c). */
async function corpusDelta(build: DebianBuild): Promise<Delta> {
  const file = path.join(DIR, 'delta.json');
  const cached = await fs.readFile(file, 'utf8').then((t) => JSON.parse(t) as Delta, () => undefined);
  if (cached) return cached;
  const tree = await prepareTree(build, (step) => console.error(`tree: ${step}`));
  // The corpus keeps its own feed cache: the daemon's is pruned to a budget.
  const feedRoot = path.join(DIR, 'feed');
  const older = await cachedSource(`linux-source-${SERIES}`, SERIES, FROM, feedRoot);
  const newer = await cachedSource(`linux-source-${SERIES}`, SERIES, TO, feedRoot);
  const delta = await computeDelta(sideOf(older, SERIES), sideOf(newer, SERIES), await treeDeltaContext(tree, FLAVOUR));
  await fs.mkdir(DIR, { recursive: true });
  await fs.writeFile(`${file}.tmp`, JSON.stringify(delta));
  await fs.rename(`${file}.tmp`, file);
  return delta;
}

function classify(err: unknown): Omit<CorpusResult, 'file' | 'ms'> {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof SplicedError)) return { class: 'broken', reason: 'exception', message };
  const details = err.details as { reason?: string; side?: string };
  switch (err.kind) {
    case 'NoChange':
      return { class: 'no change', message };
    case 'UnsafePatch':
      // Not knowing which of two same-named kernel symbols the code means is the builder's limit, not live patching's.
      if (details.reason === 'ambiguous-symbol') return { class: 'broken', reason: 'UnsafePatch (ambiguous-symbol)', message };
      return { class: 'refused', reason: details.reason ?? 'unnamed', message };
    case 'BuildFailed':
      if (details.side === 'post') return { class: 'does not compile alone', message };
      return { class: 'broken', reason: `BuildFailed${details.side ? ` (${details.side})` : ''}`, message };
    default:
      return { class: 'broken', reason: err.kind, message };
  }
}

const resultFile = (file: string) => path.join(DIR, 'results', `${file}.json`);
const moduleFile = (file: string) => path.join(DIR, 'modules', `${file.replace(/\//g, '__')}.ko`);

async function buildOne(build: DebianBuild, f: DeltaFile): Promise<CorpusResult> {
  const started = Date.now();
  const output = moduleFile(f.path);
  await fs.mkdir(path.dirname(output), { recursive: true });
  await fs.rm(output, { force: true });
  let result: CorpusResult;
  try {
    const report = await buildSplice({ patchText: f.diff, target: build }, output);
    const functions = report.splice!.objects.reduce((n, o) => n + o.functions.length, 0);
    result = { file: f.path, class: 'working', module: output, functions, ms: Date.now() - started };
  } catch (err) {
    result = { file: f.path, ...classify(err), ms: Date.now() - started };
  }
  await fs.mkdir(path.dirname(resultFile(f.path)), { recursive: true });
  await fs.writeFile(resultFile(f.path), JSON.stringify(result, null, 1));
  return result;
}

async function cachedResult(file: string): Promise<CorpusResult | undefined> {
  const result = await fs.readFile(resultFile(file), 'utf8').then((t) => JSON.parse(t) as CorpusResult, () => undefined);
  if (result?.class === 'refused' && result.reason === 'ambiguous-symbol') Object.assign(result, { class: 'broken', reason: 'UnsafePatch (ambiguous-symbol)' });
  if (!result || RETRY === 'all' || (RETRY === 'broken' && result.class === 'broken')) return undefined;
  return result;
}

/** Runs `work` over `items` with `jobs` at a time (the builds' compile steps queue on the tree lock). */
async function pool<T>(items: T[], jobs: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
}

/** The guest half's results (bench/corpus-guest.ts) of the working splices, for the module each has now. */
function guestColumn(working: CorpusResult[]) {
  const bySha = new Map(readGuestResults(DIR).map((g) => [g.sha256, g]));
  const tried = working.map((r) => bySha.get(moduleSha256(r.module!))).filter((g) => g !== undefined);
  const failed = tried.filter((g) => !g.ok);
  const pending = tried.filter((g) => g.ok && g.targetsNotLoaded.length > 0).length;
  const summary = `${tried.length - failed.length} ok (${pending} with a target module the guest could not load: live, pending), ${failed.length} failed, ${working.length - tried.length} not tried`;
  return { summary, failed };
}

function printTable(results: CorpusResult[], cases: number, delta: Delta, wallMs: number): void {
  const byClass = new Map<CorpusClass, CorpusResult[]>();
  for (const r of results) byClass.set(r.class, [...(byClass.get(r.class) ?? []), r]);
  const count = (c: CorpusClass) => byClass.get(c)?.length ?? 0;
  const reasons = (c: CorpusClass) => {
    const tally = new Map<string, number>();
    for (const r of byClass.get(c) ?? []) tally.set(r.reason ?? '-', (tally.get(r.reason ?? '-') ?? 0) + 1);
    return [...tally].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${reason} ${n}`).join(', ');
  };
  const s = delta.summary;
  console.log(`corpus ${FROM} → ${TO} for ${RELEASE}: ${s.changed} changed paths; kept ${s.kept.compiled} compiled .c, ${s.kept.included} included .c, ${s.kept.header} headers`);
  console.log(`files built: ${results.length} of ${cases} (one patch per changed .c file the build compiles or #includes)`);
  const guest = guestColumn(byClass.get('working') ?? []);
  console.log(`| class | files | reasons | guest ${RELEASE}: loaded, transitioned, disabled, unloaded, no Call Trace |`);
  console.log('|---|---|---|---|');
  for (const c of ['working', 'no change', 'refused', 'does not compile alone', 'broken'] as CorpusClass[]) {
    console.log(`| ${c} | ${count(c)} | ${c === 'refused' || c === 'broken' ? reasons(c) : ''} | ${c === 'working' ? guest.summary : ''} |`);
  }
  const limitShare = count('working') / Math.max(1, count('working') + count('refused'));
  console.log(`working / (working + refused): ${(100 * limitShare).toFixed(1)}%`);
  const buildMs = results.reduce((n, r) => n + r.ms, 0);
  console.log(`build time summed over files: ${seconds(buildMs)}; this run's wall time: ${seconds(wallMs)}`);
  if (guest.failed.length > 0) console.log(`\nfailed in the guest:`);
  for (const g of guest.failed) console.log(`  ${g.file}: ${g.failure}: ${(g.message ?? '').split('\n')[0].slice(0, 300)}`);
  for (const c of ['broken', 'refused', 'does not compile alone'] as CorpusClass[]) {
    const shown = (byClass.get(c) ?? []).slice(0, SHOW);
    if (shown.length > 0) console.log(`\n${c}:`);
    // A compiler's first error says more than make's first line.
    const gist = (m = '') => (m.split('\n').find((l) => / error: /.test(l)) ?? m.split('\n')[0]).trim().slice(0, 300);
    for (const r of shown) console.log(`  ${r.file}: ${r.reason ? `${r.reason}: ` : ''}${gist(r.message)}`);
  }
}

/** How many units each changed header of the update reaches (the grep walk a header patch's build does first). */
async function headerReach(build: DebianBuild, delta: Delta): Promise<void> {
  const tree = await prepareTree(build, (step) => console.error(`tree: ${step}`));
  const index = await objectIndex(tree);
  const graphStarted = Date.now();
  const graph = await includeGraph(tree);
  console.error(`include graph: ${seconds(Date.now() - graphStarted)}`);
  const headers = delta.files.filter((f) => f.path.endsWith('.h') && f.change === 'modified').map((f) => f.path).sort();
  const cap = DEFAULT_MAX_HEADER_UNITS;
  const bands = new Map<string, number>([['no unit', 0], ['1-24', 0], [`25-${cap}`, 0], [`over ${cap} (TooManyUnits)`, 0]]);
  const ms: number[] = [];
  for (const header of headers) {
    const t0 = Date.now();
    let units: number;
    try {
      units = reachOf(graph, header, (c) => index.has(c), cap).units.length;
    } catch (err) {
      if (!(err instanceof SplicedError && err.kind === 'TooManyUnits')) throw err;
      units = Infinity;
    }
    ms.push(Date.now() - t0);
    const band = units === 0 ? 'no unit' : units <= 24 ? '1-24' : units <= cap ? `25-${cap}` : `over ${cap} (TooManyUnits)`;
    bands.set(band, bands.get(band)! + 1);
    console.error(`${header}: ${units === Infinity ? `over ${cap}` : units} units, ${seconds(Date.now() - t0)}`);
  }
  ms.sort((a, b) => a - b);
  console.log(`Headers Debian changed from ${FROM} to ${TO}, reach in the ${RELEASE} build (include graph, no compile):`);
  for (const [band, n] of bands) console.log(`  ${band.padEnd(28)} ${n}`);
  console.log(`  ${'headers'.padEnd(28)} ${headers.length}; walk ${seconds(ms.reduce((a, b) => a + b, 0))} in all, median ${ms[Math.floor(ms.length / 2)] ?? 0} ms`);
}

/**
 * The target modules' .ko files (image deb) and units of their same-named locals (-dbg deb) for every file still to
 * build, each deb read once: a build takes only its own modules', and downloads the 855 MB -dbg deb again for each
 * module it has not seen (it is deleted after use).
 */
async function warmTargetModules(build: DebianBuild, files: DeltaFile[]): Promise<void> {
  const tree = await prepareTree(build, (step) => console.error(`tree: ${step}`));
  const index = await objectIndex(tree);
  const modules = [...new Set(files.flatMap((f) => (index.get(f.path) ?? []).flatMap((o) => (o.module ? [o.module] : []))))];
  const t0 = Date.now();
  await targetModuleFiles(tree, modules);
  await targetModuleSameNamed(tree, modules);
  console.error(`target modules of the files to build: ${modules.length}, their .ko files and units ready in ${seconds(Date.now() - t0)}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const build: DebianBuild = { release: RELEASE, debianVersion: FROM };
  const delta = await corpusDelta(build);
  if (HEADERS) return headerReach(build, delta);
  // In the order of a hash of their names: any prefix of a run (it is long) is a fixed sample spread over the tree.
  const key = (f: DeltaFile) => createHash('sha256').update(f.path).digest('hex');
  const cases = delta.files
    .filter((f) => (f.kind === 'compiled' || f.kind === 'included') && f.change === 'modified' && (ONLY.length === 0 || ONLY.includes(f.path)))
    .sort((a, b) => (key(a) < key(b) ? -1 : 1));
  if (!REPORT_ONLY) {
    const toBuild = [];
    for (const f of cases) if (!(await cachedResult(f.path))) toBuild.push(f);
    await warmTargetModules(build, toBuild);
  }
  const results: CorpusResult[] = [];
  let done = 0;
  await pool(cases, JOBS, async (f) => {
    const cached = await cachedResult(f.path);
    if (!cached && REPORT_ONLY) return;
    const result = cached ?? (await buildOne(build, f));
    results.push(result);
    done++;
    if (!cached) console.error(`[${done}/${cases.length}] ${f.path}: ${result.class}${result.reason ? ` (${result.reason})` : ''} ${seconds(result.ms)}`);
  });
  results.sort((a, b) => (a.file < b.file ? -1 : 1));
  printTable(results, cases.length, delta, Date.now() - started);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
