// Safety analysis over a DiffResult: what a livepatch cannot replace is refused with a named reason, before any module
// is generated. A livepatch swaps whole functions through ftrace; it cannot rewrite data already in memory, re-run
// init code, patch code without an ftrace hook, or change the kernel's exported-symbol table.

import { SplicedError } from '../../errors';
import { SHN, SHT } from '../../elf/reader';
import { Describer, Side } from './compare';
import { DataDiff, DiffResult, FunctionDiff } from './diff';
import { isCode, ObjectFile, relocationsWithin, resolveReference, SHF, sourceFileOf } from './object';
import { carriedReadOnlyData } from './carried';
import { stemOf } from './correlate';

export type UnsafeReason =
  | 'data-layout'
  | 'enum-value'
  | 'variable-type'
  | 'data-init'
  | 'init'
  | 'not-traceable'
  | 'assembly'
  | 'exports'
  | 'struct-layout'
  | 'kernel-table'
  | 'removed-function';

export interface Problem {
  reason: UnsafeReason;
  symbol: string;
  detail: string;
  /** The object whose change it is ("fs/proc/cmdline.o"), when the builder knows it: who refuses a file can drop it. */
  object?: string;
}

const INIT_SECTION = /^\.(init|exit)\.|^\.(head|ref)\.text/;
/** Sections whose objects are build metadata (export tables, modinfo, objtool notes, debug descriptors), not state. */
const METADATA_SECTION = /^(___ksymtab|__ksymtab|__kcrctab|\.modinfo|\.discard|\.export_symbol|__dyndbg)/;
/**
 * Tables the kernel walks at boot, at a module's load or at fixed events (PCI quirks at resume, initcalls, boot and
 * module parameters, device tree and early-console matches): a livepatch adds no entry to them and removes none, so
 * a new, removed or changed entry is a behaviour the running kernel cannot get.
 */
const KERNEL_TABLE = /^(\.pci_fixup_|\.initcall|\.con_initcall|\.security_initcall|\.init\.setup|__param|__\w+_of_table|__earlycon_table|\.x86_cpu_dev|\.apicdrivers|\.init_array|\.ctors)/;
/** Sections that index code (one entry per site) rather than hold pointers the kernel calls through. */
const CODE_INDEX = /^(__mcount_loc|\.orc_unwind|__bug_table|__ex_table|__jump_table|\.altinstr|\.parainstructions|\.static_call_sites|\.return_sites|\.retpoline_sites|\.smp_locks|\.discard|\.eh_frame|__patchable_function_entries)/;
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
  if (d.status === 'unchanged') return [];
  if (d.status !== 'changed' && d.status !== 'resized') return [];
  if (METADATA_SECTION.test(d.section) || KERNEL_TABLE.test(d.section) || isPerSiteStatic(d.name)) return [];
  if (INIT_SECTION.test(d.section)) {
    return [{ reason: 'init', symbol: d.name, detail: `init data ${d.name} (${d.section}) changed` }];
  }
  if (d.status === 'resized') {
    return [{ reason: 'data-layout', symbol: d.name, detail: `${d.name} changes size (${d.pre?.size} → ${d.post?.size} bytes)` }];
  }
  return [{ reason: 'data-init', symbol: d.name, detail: `the initial value of ${d.name} (${d.section}) changes` }];
}

/**
 * Kernel tables compared whole (their entries are often anonymous, written by asm): each differing section is a
 * problem naming the functions its entries point to on either side.
 */
function kernelTableProblems(diff: DiffResult): Problem[] {
  const describe = (obj: ObjectFile, side: Side) => {
    const describer = new Describer(obj, side, diff.correlation);
    const tables = new Map<string, { text: string; targets: Set<string> }>();
    for (const section of obj.sections) {
      if (!KERNEL_TABLE.test(section.name) || section.type === SHT.RELA) continue;
      const targets = new Set<string>();
      for (const r of obj.relocationsOf.get(section.index) ?? []) {
        const ref = resolveReference(obj, section, r);
        if (ref.kind === 'symbol') targets.add(describer.nameOf(ref.symbol).replace(/^\+/, ''));
      }
      tables.set(section.name, { text: describer.describeRange(section, 0n, BigInt(section.size)), targets });
    }
    return tables;
  };
  const before = describe(diff.pre, 'pre');
  const after = describe(diff.post, 'post');
  const problems: Problem[] = [];
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const [a, b] = [before.get(name), after.get(name)];
    if (a?.text === b?.text) continue;
    const added = [...(b?.targets ?? [])].filter((t) => !a?.targets.has(t));
    const removed = [...(a?.targets ?? [])].filter((t) => !b?.targets.has(t));
    const which = [...added.map((t) => `adds ${t}`), ...removed.map((t) => `removes ${t}`)].join(', ') || 'changes an entry';
    problems.push({ reason: 'kernel-table', symbol: name, detail: `${name} ${which}: a table the kernel reads by itself, whose entries a livepatch cannot add, remove or change` });
  }
  return problems;
}

/**
 * A function the patch removes while data of the running kernel still points to it (a table entry, an ops
 * structure): the kernel keeps calling it. One only called by replaced code is simply no longer called.
 */
function removedFunctionProblems(diff: DiffResult): Problem[] {
  const removed = new Map(diff.functions.filter((f) => f.status === 'removed' && f.pre).map((f) => [f.pre!.index, f]));
  if (removed.size === 0) return [];
  const problems = new Map<string, Problem>();
  const pre = diff.pre;
  for (const section of pre.sections) {
    if ((section.flags & SHF.ALLOC) === 0n || isCode(section) || CODE_INDEX.test(section.name)) continue;
    for (const r of pre.relocationsOf.get(section.index) ?? []) {
      const ref = resolveReference(pre, section, r);
      const f = ref.kind === 'symbol' ? removed.get(ref.symbol.index) : undefined;
      if (f && !problems.has(f.name)) {
        problems.set(f.name, { reason: 'removed-function', symbol: f.name, detail: `${f.name} is removed, but ${section.name} of the running kernel still points to it` });
      }
    }
  }
  return [...problems.values()];
}

/** Every reason the diff cannot become a livepatch; empty when it can. */
export function findProblems(diff: DiffResult): Problem[] {
  const problems: Problem[] = [];
  const source = sourceFileOf(diff.post) ?? sourceFileOf(diff.pre);
  if (source !== undefined && /\.S$/.test(source)) {
    problems.push({ reason: 'assembly', symbol: source, detail: `${source} is assembly; its code has no ftrace hooks to redirect` });
  }
  for (const f of diff.functions) problems.push(...functionProblems(diff, f));
  const carried = carriedReadOnlyData(diff);
  for (const d of diff.data) if (!(d.post && carried.has(d.post.index))) problems.push(...dataProblems(d));
  problems.push(...kernelTableProblems(diff), ...removedFunctionProblems(diff));
  for (const name of diff.exportsAdded) problems.push({ reason: 'exports', symbol: name, detail: `${name} becomes exported` });
  for (const name of diff.exportsRemoved) problems.push({ reason: 'exports', symbol: name, detail: `${name} is no longer exported` });
  return problems;
}

/** UnsafePatch's message for these problems: the first, and how many more. */
export function unsafeMessage(problems: readonly Problem[]): string {
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return `cannot livepatch this change: ${problems[0].detail}${more}`;
}

/**
 * Throws UnsafePatch with the first reason (every problem in details, with its object when `objects` names each
 * diff's), or NoChange when no function the kernel runs changes; returns when the diffs (one per touched object) can
 * become a livepatch.
 */
export function assertPatchable(diffs: readonly DiffResult[], extra: readonly Problem[] = [], objects: readonly string[] = []): void {
  const problems = [...extra, ...diffs.flatMap((d, i) => findProblems(d).map((p) => (objects[i] ? { ...p, object: objects[i] } : p)))];
  if (problems.length > 0) {
    throw new SplicedError('UnsafePatch', unsafeMessage(problems), { reason: problems[0].reason, problems });
  }
  const included = diffs.flatMap((d) => d.functions).filter((f) => f.status === 'changed' || f.status === 'new');
  if (!included.some((f) => f.status === 'changed')) {
    throw new SplicedError('NoChange', 'the patch changes no function the running kernel executes (comments, unused or new code only)', {
      newFunctions: included.map((f) => f.name),
    });
  }
}
