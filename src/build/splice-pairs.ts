// The builder's back half, as one call for `spliced build`: pre/post object pairs of the touched translation units in,
// a livepatch .ko out. diff → safety analysis (object-level + struct layouts) → run-pre against the running kernel →
// extract → kbuild link → livepatch relocations. Every refusal is a SplicedError with a named kind (and reason).

import { diffObjects, DiffResult } from './differ/diff';
import { lineMapOf } from './differ/lines';
import { extractPatch, Extracted } from './module/extract';
import { buildLivepatchModule, ModuleRequest } from './module/link';
import { KernelSymbols } from './module/symbols';
import { runPreCheck } from './runpre/check';
import { RunningKernel } from './runpre/sources';
import { assertPatchable } from './differ/safety';
import { structLayoutProblems } from './differ/safety-layout';
import type { KernelTypes, TargetTypes } from './kernel-types';

export interface ObjectPair {
  /** Object path in the tree, e.g. "fs/ext4/inode.o" (for messages). */
  object: string;
  /** "vmlinux", or the module the object is linked into (e.g. "ext4"). */
  target: string;
  pre: Buffer;
  post: Buffer;
  /** The translation unit's part of the patch (unified diff), to tell `__LINE__` shifts from changes. */
  sourceDiff?: string;
}

/** The pairs and the target kernel, plus what the module records (the module request but its name and parts). */
export interface SpliceRequest extends Omit<ModuleRequest, 'name' | 'parts'> {
  pairs: ObjectPair[];
  /** Exports (Module.symvers) and kallsyms of the target kernel. */
  kernel: KernelSymbols;
  /** The running kernel's code for the run-pre check; omitted only on build hosts, then sympos needs unique names. */
  running?: RunningKernel;
  /** The target kernel's own types per klp object (BTF), for the layout check; the pre objects' when absent. */
  kernelTypes?: KernelTypes;
  moduleName: string;
}

export interface SpliceReport {
  module: Buffer;
  diffs: { object: string; target: string; changed: string[]; added: string[] }[];
  /** Per object: matched functions with their running address (hex), or 'skipped' when no running code was available. */
  runPre: { object: string; functions: { name: string; address: string; sympos: number }[] | 'skipped' }[];
  /** Per object: the target kernel's BTF its layouts were judged against, or why only its pre object was. */
  layoutCheck: LayoutCheck[];
  functions: Extracted['functions'];
}

export type LayoutCheck = { object: string; against: string } | { object: string; against: 'pre object'; reason: string };

const NO_KERNEL_TYPES: TargetTypes = { missing: 'no target kernel types were given' };

export async function spliceFromPairs(request: SpliceRequest): Promise<SpliceReport> {
  const diffs: DiffResult[] = request.pairs.map((p) =>
    diffObjects(p.pre, p.post, {
      module: p.target === 'vmlinux' ? undefined : p.target,
      lineMap: p.sourceDiff === undefined ? undefined : lineMapOf(p.sourceDiff),
    }),
  );
  const types = await Promise.all(request.pairs.map((p) => request.kernelTypes?.(p.target) ?? NO_KERNEL_TYPES));
  const layout = (await Promise.all(request.pairs.map(async (p, i) => (await structLayoutProblems(p, types[i].btf)).map((x) => ({ ...x, object: p.object }))))).flat();
  assertPatchable(
    diffs,
    layout,
    request.pairs.map((p) => p.object),
  );

  const running = request.running;
  const runPre = diffs.map((d, i) => (running?.covers(request.pairs[i].target) ? runPreCheck(d, request.pairs[i].target, running) : undefined));
  const parts = extractPatch(diffs.map((diff, i) => ({ diff, target: request.pairs[i].target, runPre: runPre[i] })), request.kernel);
  const { pairs: _pairs, kernel: _kernel, running: _running, kernelTypes: _types, moduleName, ...recorded } = request;
  const module = await buildLivepatchModule({ ...recorded, name: moduleName, parts });
  return {
    module,
    diffs: diffs.map((d, i) => ({
      object: request.pairs[i].object,
      target: request.pairs[i].target,
      changed: d.functions.filter((f) => f.status === 'changed').map((f) => f.name),
      added: d.functions.filter((f) => f.status === 'new').map((f) => f.name),
    })),
    runPre: request.pairs.map((p, i) => ({
      object: p.object,
      functions: runPre[i]?.functions.map((f) => ({ ...f, address: `0x${f.address.toString(16)}` })) ?? 'skipped',
    })),
    functions: parts.flatMap((p) => p.functions),
    layoutCheck: request.pairs.map(({ object }, i) => {
      const t = types[i];
      return t.btf ? { object, against: t.source } : { object, against: 'pre object', reason: t.missing };
    }),
  };
}
