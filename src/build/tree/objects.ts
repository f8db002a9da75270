// Which C files this kernel configuration compiles, into which object, for vmlinux or which module: kbuild's
// own answer, from a dry run of the full build (`make -n vmlinux modules`, ≈ 17 s, nothing is built), kept next
// to the tree. Reading Makefiles ourselves cannot match this: kbuild compiles any `dir/x.o` asked for (even a .c
// that is only #included elsewhere, like kernel/sched/stats.c), names objects through variables
// (process_$(BITS).o), and builds some sources from other directories (virt/kvm/*.c as
// arch/x86/kvm/../../../virt/kvm/*.o).

import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { tail } from '../process';
import { cachedJson } from './cache-file';
import { make, MakeTree } from './kmake';

export interface KernelObject {
  /** Source file, normalised, relative to the tree: "virt/kvm/kvm_main.c". */
  source: string;
  /** The make target exactly as kbuild names it: "arch/x86/kvm/../../../virt/kvm/kvm_main.o". */
  target: string;
  /** Module name (KBUILD_MODNAME) for an object of a module; absent for vmlinux. */
  module?: string;
}

const INDEX = 'objects.json';
/** Far fewer objects than this means the dry run stopped early, not a small kernel. */
const MIN_OBJECTS = 1000;

/** The C compiles of a `make -n` listing. A command may be echoed twice (run, then saved to .cmd): kept once. */
export function parseDryRun(output: string): KernelObject[] {
  const objects = new Map<string, KernelObject>();
  for (const line of output.split('\n')) {
    const compile = / -c -o (\S+\.o) (\S+\.c)(?=\s|;|$)/.exec(line);
    if (!compile || objects.has(compile[1])) continue;
    const module = /\s-DMODULE\s/.test(line) ? /-DKBUILD_MODNAME='"([^"]+)"'/.exec(line)?.[1] : undefined;
    objects.set(compile[1], { source: path.posix.normalize(compile[2]), target: compile[1], ...(module && { module }) });
  }
  return [...objects.values()];
}

async function buildIndex(tree: MakeTree): Promise<KernelObject[]> {
  // -n runs no recipe (only the recursive makes, themselves dry); one job keeps the listing's lines whole.
  const serial = { ...tree, makeArgs: tree.makeArgs.filter((a) => !a.startsWith('-j')) };
  const res = await make(serial, ['-n', '-k', 'vmlinux', 'modules']);
  const objects = parseDryRun(res.stdout);
  if (objects.length < MIN_OBJECTS) {
    throw new SplicedError('BuildFailed', `listing the kernel's objects found only ${objects.length}:\n${tail(res.stderr)}`);
  }
  return objects;
}

/** Source file → its objects (usually one), for the tree; built on first use (callers hold the tree lock). */
export async function objectIndex(tree: MakeTree & { cacheDir: string }): Promise<Map<string, KernelObject[]>> {
  const objects = await cachedJson(path.join(tree.cacheDir, INDEX), () => buildIndex(tree));
  const bySource = new Map<string, KernelObject[]>();
  for (const o of objects) bySource.set(o.source, [...(bySource.get(o.source) ?? []), o]);
  return bySource;
}
