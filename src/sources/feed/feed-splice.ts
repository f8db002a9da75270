// From a feed plan to one cumulative splice: the whole delta (running source → target) is built as one patch.
// The builder refuses per file or function (UnsafePatch, RunPreMismatch, …), so when that one build is refused the
// files it names (its problems' objects) are taken out and the rest is built again; a refusal that names none makes
// each file be tried alone to find the ones refused, and the others are built again as one patch: a fix that
// cannot be spliced never holds back the rest. It needs a reboot, and says why (reboot reasons). Only a splice that
// carries every fix declares the target version (Spliced-Version), so EffectiveVersion reaches it only then.

import { promises as fs } from 'node:fs';
import { posix } from 'node:path';
import { unsafeMessage, type Problem } from '../../build/differ/safety';
import { assemblyRefusal, parsePatch, type PatchedFile } from '../../build/patch/patchfile';
import type { BuildStep, SpliceBuilder } from '../../engine/types';
import { asSplicedError, isSplicedError, type SplicedError } from '../../errors';
import type { FeedPlan, PlanReport } from './plan';

export interface RefusedFix {
  file: string;
  kind: string;
  message: string;
}

export interface FeedSplice {
  /** The module written to the output path; false when no change of the delta reaches compiled code. */
  built: boolean;
  refused: RefusedFix[];
  /** Every fix is in the splice (or needs no code): it declares the target version. */
  complete: boolean;
  /** Why a reboot is still needed, one line per refused file naming the changelog lines and CVEs it carries. */
  rebootReasons: string[];
}

export interface SpliceRequest {
  plan: FeedPlan;
  running: string;
  target: string;
  builder: SpliceBuilder;
  output: string;
  onStep: (step: BuildStep) => void;
  signal: AbortSignal;
}

type Changelog = NonNullable<PlanReport['changelog']>;

export async function buildFeedSplice(request: SpliceRequest): Promise<FeedSplice> {
  const { plan, output } = request;
  // Assembly in the delta is never built (no livepatch replaces it): refused as the builder refuses it.
  const refused: RefusedFix[] = (plan.report.delta?.files ?? [])
    .filter((file) => file.kind === 'assembly')
    .map((file) => refusedFix(file.path, assemblyRefusal(file.path)));
  if (plan.patchText.trim() === '') return partial(request, refused, false);
  const build = (parts: PatchedFile[], refused: RefusedFix[], to: string) =>
    request.builder.build({ patchText: patchText(request, parts, refused) }, to, request.onStep, request.signal);
  let candidates = parsePatch(plan.patchText).files;
  let error: SplicedError;
  // While the builder names the files it refuses (the differ's problems name their objects, a vetting refusal its
  // file), those are taken out and the rest is built again: two builds where one file in many is refused.
  for (;;) {
    try {
      await build(candidates, refused, output);
      return partial(request, refused, true);
    } catch (err) {
      error = refusal(err, request.signal);
    }
    if (isSplicedError(error, 'NoChange')) return partial(request, refused, false);
    const named = refusedFiles(error, candidates);
    if (named === undefined) break;
    refused.push(...named);
    candidates = candidates.filter((file) => !named.some((fix) => fix.file === file.path));
    if (candidates.length === 0) return partial(request, refused, false);
  }
  if (candidates.length === 1) return partial(request, [...refused, refusedFix(candidates[0].path, error)], false);
  // A refusal that names no file of the delta (a header's reach, run-pre, …): each file is tried alone.
  const kept: PatchedFile[] = [];
  for (const file of candidates) {
    const trial = `${output}.trial`;
    try {
      await build([file], [], trial);
      kept.push(file);
    } catch (err) {
      const error = refusal(err, request.signal);
      if (!isSplicedError(error, 'NoChange')) refused.push(refusedFix(file.path, error));
    } finally {
      await fs.rm(trial, { force: true });
    }
  }
  if (kept.length === 0) return partial(request, refused, false);
  try {
    await build(kept, refused, output);
  } catch (err) {
    // Each built alone but not together: none of them is live, each for this reason.
    const error = refusal(err, request.signal);
    return partial(request, [...refused, ...kept.map((file) => refusedFix(file.path, error))], false);
  }
  return partial(request, refused, true);
}

/**
 * The files of `candidates` a refusal names, each with its own reason; undefined when it names none, or names
 * something else too (a unit a header reaches): then only trying each file alone tells.
 */
function refusedFiles(error: SplicedError, candidates: readonly PatchedFile[]): RefusedFix[] | undefined {
  const paths = new Set(candidates.map((file) => file.path));
  const { path: named, problems } = (error.details ?? {}) as { path?: unknown; problems?: Problem[] };
  if (typeof named === 'string') return paths.has(named) ? [refusedFix(named, error)] : undefined;
  if (!Array.isArray(problems) || problems.length === 0) return undefined;
  const byFile = new Map<string, Problem[]>();
  for (const problem of problems) {
    const file = problem.object && posix.normalize(problem.object).replace(/\.o$/, '.c');
    if (!file || !paths.has(file)) return undefined;
    byFile.set(file, [...(byFile.get(file) ?? []), problem]);
  }
  return [...byFile].map(([file, own]) => ({ file, kind: error.kind, message: unsafeMessage(own) }));
}

/** A builder's refusal; a stop is not one and goes on up. */
function refusal(err: unknown, signal: AbortSignal): SplicedError {
  if (signal.aborted) throw err;
  return asSplicedError(err);
}

function refusedFix(file: string, error: SplicedError): RefusedFix {
  return { file, kind: error.kind, message: error.message };
}

function partial(request: SpliceRequest, refused: RefusedFix[], built: boolean): FeedSplice {
  const changelog = request.plan.report.changelog ?? [];
  return { built, refused, complete: refused.length === 0, rebootReasons: refused.map((fix) => rebootReason(fix, changelog, request)) };
}

function linesNaming(changelog: Changelog, file: string) {
  return changelog.flatMap((entry) => entry.lines.filter((line) => line.files?.includes(file)).map((line) => ({ version: entry.version, ...line })));
}

function rebootReason(fix: RefusedFix, changelog: Changelog, request: SpliceRequest): string {
  const lines = linesNaming(changelog, fix.file);
  const fixes =
    lines.length > 0
      ? lines.map((l) => `Debian ${l.version} "${l.text}"${l.cves?.length ? ` (${l.cves.join(', ')})` : ''}`).join('; ')
      : `the change of ${fix.file} from ${request.running} to ${request.target} (the changelog names no line for it)`;
  return `${fixes}: ${fix.file} cannot be spliced (${fix.kind}: ${fix.message})`;
}

/**
 * The splice's patch: a header the builder records in the module (description, CVEs, Spliced-Version when it is
 * complete), then the diffs. Changelog lines that name a refused file are left out: their CVEs are not live.
 */
function patchText(request: SpliceRequest, parts: PatchedFile[], refused: RefusedFix[]): string {
  const changelog = request.plan.report.changelog ?? [];
  const refusedFiles = new Set(refused.map((fix) => fix.file));
  const lines = changelog.flatMap((entry) =>
    entry.lines.filter((line) => !line.files?.some((f) => refusedFiles.has(f))).map((line) => `  ${entry.version}: ${line.text}`),
  );
  return [
    `Subject: Debian linux ${request.target} from ${request.running} (spliced distro feed${refused.length > 0 ? `, ${refused.length} fix(es) left for a reboot` : ''})`,
    ...(refused.length === 0 ? [`Spliced-Version: ${request.target}`] : []),
    '',
    ...lines,
    '',
    ...parts.map((part) => part.diff),
  ].join('\n');
}
