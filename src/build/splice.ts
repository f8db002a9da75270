// The seam between the tree/compile half of the builder and the differ/module half: compiled pre/post pairs in,
// a livepatch module out (differ → safety analysis → run-pre check → module generation, see module.ts).
// What the target kernel looks like comes from where it can be known:
// - the running kernel (release = uname -r): /proc/kallsyms, /sys/kernel/notes, run-pre against /proc/kcore;
// - another kernel: `<tree cache>/kallsyms` (a copy of its /proc/kallsyms) and, for run-pre, `<tree cache>/vmlinux`
//   (`scripts/extract-vmlinux /boot/vmlinuz-R`) when present; without them run-pre is skipped and reported so.

import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { SplicedError } from '../errors';
import { buildIdFromNotes } from '../kernel/identity';
import type { CompileResult } from './compile';
import { kernelSymbols, withModuleFiles } from './klp-symbols';
import { buildSplice } from './module';
import type { ParsedPatch } from './patchfile';
import { kcoreSource, RunningKernel, vmlinuxFileSource } from './runpre-sources';
import type { Tree } from './tree';

export interface SpliceInput {
  tree: Tree;
  patch: ParsedPatch;
  compiled: CompileResult;
  /** Where the .ko must be written. */
  output: string;
  /** A directory for intermediate files, removed after the build. */
  workDir: string;
}

export interface SpliceOutput {
  /** The written module (= input.output). */
  module: string;
  /** Module name as the kernel will know it. */
  name: string;
  /** What the module replaces or adds, per klp object ("vmlinux" or a module name). */
  objects: { name: string; functions: string[] }[];
  /** Per object: functions checked against the running kernel, or 'skipped' (no running code of the target available). */
  runPre: { object: string; functions: string[] | 'skipped' }[];
}

interface TargetKernel {
  kallsyms: string;
  buildId: string;
  running?: RunningKernel;
}

async function targetKernel(tree: Tree): Promise<TargetKernel> {
  if (tree.release === osRelease()) {
    const kallsyms = await readFile('/proc/kallsyms', 'utf8');
    if (/^0{16} T _text$/m.test(kallsyms)) {
      throw new SplicedError('PermissionDenied', 'building for the running kernel needs root: /proc/kallsyms hides addresses from this user');
    }
    const buildId = buildIdFromNotes(await readFile('/sys/kernel/notes')) ?? 'unknown';
    return { kallsyms, buildId, running: kcoreSource(kallsyms) };
  }
  const kallsymsPath = join(tree.cacheDir, 'kallsyms');
  const kallsyms = existsSync(kallsymsPath) ? await readFile(kallsymsPath, 'utf8') : '';
  const vmlinuxPath = join(tree.cacheDir, 'vmlinux');
  const running = kallsyms && existsSync(vmlinuxPath) ? vmlinuxFileSource(await readFile(vmlinuxPath), kallsyms) : undefined;
  return { kallsyms, buildId: 'unknown', running };
}

/** The installed .ko of each target module (from modules.dep), for modules that are not loaded while building. */
async function moduleFiles(release: string, modules: string[]): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const depPath = `/lib/modules/${release}/modules.dep`;
  if (modules.length === 0 || !existsSync(depPath)) return files;
  const paths = (await readFile(depPath, 'utf8')).split('\n').map((line) => line.slice(0, line.indexOf(':')));
  for (const module of new Set(modules)) {
    const path = paths.find((p) => p.split('/').pop()!.replace(/\.ko$/, '').replace(/-/g, '_') === module);
    if (path) files.set(module, await readFile(join(`/lib/modules/${release}`, path)));
  }
  return files;
}

export async function generateSplice(input: SpliceInput): Promise<SpliceOutput> {
  const assembly = input.patch.files.filter((f) => /\.S$/.test(f.path));
  if (assembly.length > 0) {
    throw new SplicedError('UnsafePatch', `cannot livepatch assembly: ${assembly.map((f) => f.path).join(', ')}`, { reason: 'assembly' });
  }
  // The installed headers package, else the prepared tree itself (modules_prepare done, Debian's Module.symvers).
  const installed = `/usr/src/linux-headers-${input.tree.release}`;
  const headersDir = existsSync(join(installed, 'Module.symvers')) ? installed : input.tree.sourceDir;
  if (!existsSync(join(headersDir, 'Module.symvers'))) {
    throw new SplicedError('BuildFailed', `no Module.symvers for ${input.tree.release} (${installed} or the tree); install linux-headers-${input.tree.release}`);
  }
  const target = await targetKernel(input.tree);
  const name = `spliced_${input.patch.sha256.slice(0, 12)}`;
  const pairs = await Promise.all(
    input.compiled.pairs.map(async (p) => ({
      object: p.object,
      target: p.module ?? 'vmlinux',
      pre: await readFile(p.pre),
      post: await readFile(p.post),
      sourceDiff: input.patch.files.find((f) => f.path === p.tu)?.diff,
    })),
  );
  const kernel = kernelSymbols(await readFile(join(headersDir, 'Module.symvers'), 'utf8'), target.kallsyms);
  const report = await buildSplice({
    pairs,
    kernel: withModuleFiles(kernel, await moduleFiles(input.tree.release, pairs.map((p) => p.target).filter((t) => t !== 'vmlinux'))),
    running: target.running,
    headersDir,
    moduleName: name,
    patchSha256: input.patch.sha256,
    buildId: target.buildId,
    makeArgs: input.tree.makeArgs.filter((a) => /^(-j|CC=|KERNELRELEASE=)/.test(a)),
  });
  await writeFile(input.output, report.module);
  const objects = new Map<string, string[]>();
  report.diffs.forEach((d) => objects.set(d.target, [...(objects.get(d.target) ?? []), ...d.changed, ...d.added]));
  return {
    module: input.output,
    name,
    objects: [...objects].map(([object, functions]) => ({ name: object, functions })),
    runPre: report.runPre.map((r) => ({ object: r.object, functions: r.functions === 'skipped' ? 'skipped' : r.functions.map((f) => f.name) })),
  };
}
