// The feed's plan for the running kernel: what apt offers (apt-view), the source delta from the running source to a
// target version restricted to this kernel's build (delta), and the Debian changelog entries in between
// (changelog). The daemon runs it as a job of the build worker (src/daemon/plan-job.ts: as the spliced-build user,
// where the feed cache and the kernel trees belong) and builds one splice from it (feed.ts); `command.js plan` runs
// it by hand. Both print the same report (planReport).
// A computed plan is kept beside the target's deb (plan-<release>-from-<version>.json), valid while both debs are
// the ones apt's index vouched for (checked by hash at every use, as the manifests are): the changed files are read
// from the 1.4 GB tarballs once per kernel and target.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { includeGraph } from '../../build/compile/include-graph';
import { reachOf } from '../../build/compile/includers';
import { objectIndex } from '../../build/tree/objects';
import { writingInto } from '../../build/tree/root-writes';
import { prepareTree, Tree, withTreeLock, writeMarker } from '../../build/tree/tree';
import { isSplicedError, SplicedError } from '../../errors';
import { aptView, FeedView, ImageOffer, imageBuiltFrom, runTool, ToolRunner } from './apt-view';
import { ChangelogEntry, entriesBetween, filesNamedBy, parseChangelog } from './changelog';
import { computeDelta, Delta, DeltaContext, SourceSide } from './delta';
import { archOfFlavour } from './delta-filter';
import type { KernelRelease } from './kernel-release';
import { CachedSource, cachedSource, feedCacheRoot, pruneSources } from './source-cache';
import { changelogOf, debTree, filesOf } from './source-deb';

export interface PlanRequest {
  running: { release: string; sourceVersion: string };
  /** A newer source version to plan for; the newest the archive offers when absent. */
  targetVersion?: string;
  runner?: ToolRunner;
}

export interface Plan {
  view: FeedView;
  target?: {
    sourceVersion: string;
    image?: ImageOffer;
    changelog: ChangelogEntry[];
    delta: Delta;
  };
  /** Milliseconds per step, for the report. */
  timings: Record<string, number>;
}

/** The printed plan (docs/feed.md "The plan, by hand"), as far as the daemon reads it. */
export interface PlanReport {
  target?: { sourceVersion: string; image?: { package: string } };
  changelog?: { version: string; cves: string[]; lines: { text: string; cves?: string[]; files?: string[] }[] }[];
  delta?: { files: { path: string; kind: string; change: string }[]; buildFiles: string[] };
}

export interface FeedPlan {
  report: PlanReport;
  /** The delta as one patch (a/ b/ prefixes), "" when nothing this kernel builds changed. */
  patchText: string;
}

/** How the daemon gets a plan for the running kernel and a target (as a build worker job: src/daemon/plan-job.ts). */
export type PlanRunner = (running: { release: string; sourceVersion: string }, target: string, signal: AbortSignal) => Promise<FeedPlan>;

/** How far a changed, not-compiled .c file is followed through #include before it counts as included anyway. */
const INCLUDE_LIMIT = 50;

async function timed<T>(timings: Record<string, number>, step: string, body: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await body();
  } finally {
    timings[step] = Date.now() - started;
  }
}

export const sideOf = (source: CachedSource, series: string): SourceSide => ({
  version: source.version,
  manifest: source.manifest,
  read: (files) => filesOf(debTree(source.deb, series), files),
});

/**
 * What the delta needs to know of a prepared tree: kbuild's list of the .c files it compiles, and whether a .c file
 * it does not compile is #included by one it does. Also used by bench/corpus.ts.
 */
export async function treeDeltaContext(tree: Tree, flavour: string): Promise<DeltaContext> {
  const [compiled, graph] = await withTreeLock(tree, async () => [new Set((await objectIndex(tree)).keys()), await includeGraph(tree)] as const);
  const isCompiled = (file: string) => compiled.has(file);
  return {
    arch: archOfFlavour(flavour),
    isCompiled,
    isIncluded: async (file) => {
      try {
        return reachOf(graph, file, isCompiled, INCLUDE_LIMIT).units.length > 0;
      } catch (err) {
        // Reaching very many units is still reaching: the builder refuses it with its reason.
        if (isSplicedError(err, 'TooManyUnits')) return true;
        throw err;
      }
    },
  };
}

export async function planFeed(request: PlanRequest): Promise<Plan> {
  const timings: Record<string, number> = {};
  const view = await timed(timings, 'aptView', () => aptView(request.running, request.runner ?? runTool));
  const target = request.targetVersion ?? view.targetSourceVersion;
  if (target === undefined) return { view, timings };
  if (!view.newerSourceVersions.includes(target)) {
    throw new SplicedError(
      'InvalidArgument',
      `${view.sourcePackage} ${target} is not a newer version apt offers (newer: ${view.newerSourceVersions.join(', ') || 'none'})`,
      { target },
    );
  }
  const { series, sourceVersion } = view.running;
  const [older, newer] = await timed(timings, 'sources', async () => [
    await cachedSource(view.sourcePackage, series, sourceVersion),
    await cachedSource(view.sourcePackage, series, target),
  ]);
  const between = await planBetween(view.running, older, newer, timings);
  await pruneSources([sourceVersion, target]);
  return { view, target: { sourceVersion: target, image: imageBuiltFrom(view, target), ...between }, timings };
}

/**
 * The changelog entries and the delta from the running kernel's source to a newer one, for this kernel's build;
 * kept beside the newer deb and reused while both debs are the same files. Also used by the guest tests, which
 * make a source version of their own (test/guest/harness/feed-test-source.ts).
 */
export async function planBetween(
  running: Pick<KernelRelease, 'release' | 'series' | 'flavour'> & { sourceVersion: string },
  older: CachedSource,
  newer: CachedSource,
  timings: Record<string, number> = {},
): Promise<Pick<CachedPlan, 'changelog' | 'delta'>> {
  const { series, flavour, release, sourceVersion } = running;
  const cacheFile = path.join(path.dirname(newer.deb), `plan-${release}-from-${sourceVersion}.json`);
  const cached = await readCachedPlan(cacheFile, older.deb, newer.deb);
  if (cached) return cached;
  const changelog = await timed(timings, 'changelog', async () =>
    entriesBetween(parseChangelog(await changelogOf(newer.deb, series)), sourceVersion, newer.version),
  );
  const tree = await timed(timings, 'runningTree', () => prepareTree({ release, debianVersion: sourceVersion }));
  const context = await timed(timings, 'objects', () => treeDeltaContext(tree, flavour));
  const delta = await timed(timings, 'delta', () => computeDelta(sideOf(older, series), sideOf(newer, series), context));
  const kept: CachedPlan = { format: PLAN_FORMAT, fromDeb: path.basename(older.deb), toDeb: path.basename(newer.deb), changelog, delta };
  await writingInto(feedCacheRoot(), () => writeMarker(cacheFile, kept));
  return { changelog, delta };
}

/** 2: this architecture's assembly is in the delta (a reboot reason); plans of before left it out, and are made again. */
const PLAN_FORMAT = 2;

interface CachedPlan {
  format: typeof PLAN_FORMAT;
  fromDeb: string;
  toDeb: string;
  changelog: ChangelogEntry[];
  delta: Delta;
}

async function readCachedPlan(file: string, fromDeb: string, toDeb: string): Promise<Pick<CachedPlan, 'changelog' | 'delta'> | undefined> {
  const cached = await fs
    .readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as CachedPlan)
    .catch(() => undefined);
  if (cached?.format !== PLAN_FORMAT || cached.fromDeb !== path.basename(fromDeb) || cached.toDeb !== path.basename(toDeb)) return undefined;
  return { changelog: cached.changelog, delta: cached.delta };
}

/** The printed plan: the delta's diffs are summarised (the patch is deltaPatch's). */
export function planReport(plan: Plan) {
  const { view, target } = plan;
  return {
    running: view.running,
    offered: view.newerSourceVersions,
    ...(target && {
      target: { sourcePackage: view.sourcePackage, sourceVersion: target.sourceVersion, image: target.image },
      changelog: target.changelog.map((e) => ({
        version: e.version,
        urgency: e.urgency,
        date: e.date,
        cves: e.cves,
        lines: e.lines.map((l) => {
          const files = filesNamedBy(l, target.delta.files.map((f) => f.path));
          return { text: l.text, ...(l.cves.length > 0 && { cves: l.cves }), ...(files.length > 0 && { files }) };
        }),
      })),
      delta: {
        files: target.delta.files.map((f) => ({ path: f.path, kind: f.kind, change: f.change })),
        ...target.delta.summary,
      },
    }),
    timingsMs: plan.timings,
  };
}
