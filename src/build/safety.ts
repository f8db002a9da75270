// Safety analysis over a DiffResult: what a livepatch cannot replace is refused with a named reason, before any module
// is generated. A livepatch swaps whole functions through ftrace; it cannot rewrite data already in memory, re-run
// init code, patch code without an ftrace hook, or change the kernel's exported-symbol table.

import { SplicedError } from '../errors';
import { SHN, STT } from '../elf/reader';
import { DataDiff, DiffResult, FunctionDiff } from './diff';
import { ObjectFile, relocationsWithin } from './diff-object';
import { stemOf } from './diff-correlate';

export type UnsafeReason =
  | 'data-layout'
  | 'data-init'
  | 'init'
  | 'not-traceable'
  | 'assembly'
  | 'exports'
  | 'struct-layout';

export interface Problem {
  reason: UnsafeReason;
  symbol: string;
  detail: string;
}

const INIT_SECTION = /^\.(init|exit)\.|^\.(head|ref)\.text/;
/** Sections whose objects are build metadata (initcall pointers, export tables, modinfo, objtool notes), not state. */
const METADATA_SECTION = /^(\.initcall|\.con_initcall|___ksymtab|__ksymtab|__kcrctab|\.modinfo|\.discard|__param|\.export_symbol|__dyndbg)/;
/**
 * Statics the compiler or a macro creates per use site (`pr_*_once`, lockdep keys, `__func__`, ratelimit state):
 * a patched function gets its own fresh copy, so their values are not the running kernel's state.
 */
const PER_SITE_STATIC = /^(__already_done|__key|__func__|__warned|__print_once|_rs|descriptor|__UNIQUE_ID_[\w#]+|__msg|__fmt)$/;

export function isPerSiteStatic(name: string): boolean {
  return PER_SITE_STATIC.test(stemOf(name).replace(/\.#$/, ''));
}

/** True when the function's first instructions call __fentry__ (ftrace's hook, which livepatch redirects). */
export function hasFentryCall(obj: ObjectFile, fn: { shndx: number; value: bigint }): boolean {
  return relocationsWithin(obj, fn.shndx, fn.value, fn.value + 16n).some((r) => {
    const target = obj.symbols[r.symbol];
    return target.shndx === SHN.UNDEF && target.name === '__fentry__';
  });
}

function sourceFileOf(obj: ObjectFile): string | undefined {
  return obj.symbols.find((s) => s.type === STT.FILE)?.name;
}

function functionProblems(diff: DiffResult, f: FunctionDiff): Problem[] {
  if (f.status !== 'changed' && f.status !== 'new') return [];
  if (INIT_SECTION.test(f.section)) {
    return [{ reason: 'init', symbol: f.name, detail: `${f.name} is init/exit code (${f.section}), which has already run` }];
  }
  // A changed function is replaced through its ftrace hook; new functions and `.cold` parts are only called by
  // included code.
  if (f.status === 'changed' && f.parent === undefined && f.pre && !hasFentryCall(diff.pre, f.pre)) {
    return [{ reason: 'not-traceable', symbol: f.name, detail: `${f.name} has no __fentry__ call (notrace or not instrumented)` }];
  }
  return [];
}

function dataProblems(d: DataDiff): Problem[] {
  if (d.status !== 'changed' && d.status !== 'resized') return [];
  if (METADATA_SECTION.test(d.section) || isPerSiteStatic(d.name)) return [];
  if (INIT_SECTION.test(d.section)) {
    return [{ reason: 'init', symbol: d.name, detail: `init data ${d.name} (${d.section}) changed` }];
  }
  if (d.status === 'resized') {
    return [{ reason: 'data-layout', symbol: d.name, detail: `${d.name} changes size (${d.pre?.size} → ${d.post?.size} bytes)` }];
  }
  return [{ reason: 'data-init', symbol: d.name, detail: `the initial value of ${d.name} (${d.section}) changes` }];
}

/** Every reason the diff cannot become a livepatch; empty when it can. */
export function findProblems(diff: DiffResult): Problem[] {
  const problems: Problem[] = [];
  const source = sourceFileOf(diff.post) ?? sourceFileOf(diff.pre);
  if (source !== undefined && /\.S$/.test(source)) {
    problems.push({ reason: 'assembly', symbol: source, detail: `${source} is assembly; its code has no ftrace hooks to redirect` });
  }
  for (const f of diff.functions) problems.push(...functionProblems(diff, f));
  for (const d of diff.data) problems.push(...dataProblems(d));
  for (const name of diff.exportsAdded) problems.push({ reason: 'exports', symbol: name, detail: `${name} becomes exported` });
  for (const name of diff.exportsRemoved) problems.push({ reason: 'exports', symbol: name, detail: `${name} is no longer exported` });
  return problems;
}

/**
 * Throws UnsafePatch with the first reason (every problem in details), or NoChange when no function the kernel runs
 * changes; returns when the diffs (one per touched object) can become a livepatch.
 */
export function assertPatchable(diffs: readonly DiffResult[], extra: readonly Problem[] = []): void {
  const problems = [...extra, ...diffs.flatMap(findProblems)];
  if (problems.length > 0) {
    const [first] = problems;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new SplicedError('UnsafePatch', `cannot livepatch this change: ${first.detail}${more}`, {
      reason: first.reason,
      problems,
    });
  }
  const included = diffs.flatMap((d) => d.functions).filter((f) => f.status === 'changed' || f.status === 'new');
  if (!included.some((f) => f.status === 'changed')) {
    throw new SplicedError('NoChange', 'the patch changes no function the running kernel executes (comments, unused or new code only)', {
      newFunctions: included.map((f) => f.name),
    });
  }
}
