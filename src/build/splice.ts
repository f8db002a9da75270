// The seam between the tree/compile half of the builder and the differ/module half: compiled pre/post pairs in,
// a livepatch module out (differ → safety analysis → run-pre check → module generation, see splice-pairs.ts).
// What the target kernel looks like comes from where it can be known:
// - the running kernel (release = uname -r), built as root: /proc/kallsyms, /sys/kernel/notes, run-pre against
//   /proc/kcore; built unprivileged (the daemon's build unit): kallsyms and build id from the daemon, run-pre against
//   /boot/vmlinuz-R of that build id and the installed module files;
// - another kernel: Debian's own packages of that build (target-image.ts): vmlinux from its vmlinuz, System.map,
//   build id, module .ko files; run-pre of vmlinux objects against that vmlinux, of module objects against their
//   .ko laid out and relocated like the module loader would (runpre-module.ts).

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { isSplicedError, SplicedError } from '../errors';
import { buildIdFromNotes } from '../kernel/identity';
import { readKernelFile } from '../kernel/read-kernel-file';
import { spliceModuleName } from '../kernel/splice-modinfo';
import type { CompileResult } from './compile/compile';
import { fileSymbols, KallsymsEntry, KernelSymbols, kernelSymbols, parseSameNamed, withFiles, withFileSymbols } from './module/symbols';
import { spliceFromPairs } from './splice-pairs';
import { imageKernelTypes, KernelTypes, runningKernelTypes } from './kernel-types';
import type { LayoutCheck } from './splice-pairs';
import type { PatchHeader } from './patch/header';
import type { ParsedPatch } from './patch/patchfile';
import { moduleFileSource, withModuleCode } from './runpre/module-source';
import { kcoreSource, RunningKernel, vmlinuxFileSource } from './runpre/sources';
import { elfBuildId, extractVmlinux, targetImage, targetModuleFiles, targetModuleSameNamed } from './tree/target-image';
import { StepListener, Tree, withTreeLock } from './tree/tree';

export interface SpliceInput {
  tree: Tree;
  patch: ParsedPatch;
  compiled: CompileResult;
  /** Where the .ko must be written. */
  output: string;
  /** A directory for intermediate files, removed after the build. */
  workDir: string;
  /** The running kernel's symbols and build id, read by a privileged parent for a build that cannot read them. */
  runningKernel?: RunningKernelFacts;
  /** Told as a long step starts (the first build for a kernel that is not running fetches its image). */
  step?: StepListener;
}

export interface SpliceOutput {
  /** The written module (= input.output). */
  module: string;
  /** Module name as the kernel will know it. */
  name: string;
  /** What the module replaces or adds, per klp object ("vmlinux" or a module name). */
  objects: { name: string; functions: string[] }[];
  /** GNU build id of the target vmlinux (recorded in the module as spliced.kernel_build_id). */
  buildId: string;
  /** Where the target's code and symbols came from. */
  targetCode: 'running kernel' | 'installed image' | 'image package';
  /** From the patch header, recorded in the module's .modinfo. */
  header: PatchHeader;
  /** Per object: functions checked against the target's code, or 'skipped' with the reason. */
  runPre: ({ object: string; functions: string[] } | { object: string; functions: 'skipped'; reason: string })[];
  /** Per object: the kernel BTF file its type layouts were judged against, or 'pre object' and why. */
  layoutCheck: LayoutCheck[];
}

interface TargetKernel {
  kallsyms: string;
  buildId: string;
  running: RunningKernel;
  code: SpliceOutput['targetCode'];
  /** vmlinux's same-named symbols with their translation units, where its symbol table is known (image package). */
  vmlinuxFiles?: Map<string, KallsymsEntry[]>;
  /** The image package's vmlinux file (a kernel not running here). */
  vmlinux?: string;
}

/** Where module files are laid out for run-pre: the kernel's module area, one 256 MB slot per module. */
const MODULE_AREA = 0xffffffffc0000000n;
const MODULE_SLOT = 0x10000000n;

/**
 * On a build host, module objects are checked against their .ko files, and their symbol positions come from the same
 * layout, so a run-pre match's address picks the sympos.
 */
function withModuleFileCode(target: TargetKernel, symbols: KernelSymbols, modules: ReadonlyMap<string, Buffer>): { running: RunningKernel; symbols: KernelSymbols } {
  if (target.code === 'running kernel' || modules.size === 0) return { running: target.running, symbols };
  const sources = [...modules].map(([module, ko], i) => moduleFileSource(module, ko, MODULE_AREA + BigInt(i) * MODULE_SLOT));
  const running = withModuleCode(target.running, sources);
  const fromFile = (object: string) => object !== 'vmlinux' && running.covers(object);
  return {
    running,
    symbols: { ...symbols, entriesOf: (object, name) => (fromFile(object) ? running : symbols).entriesOf(object, name) },
  };
}

/** What only root can read of the running kernel: its symbols with addresses, and its build id. */
export interface RunningKernelFacts {
  kallsyms: string;
  buildId: string;
}

/** Reads them; PermissionDenied where /proc/kallsyms hides the addresses (not root, or kptr_restrict). */
export async function readRunningKernelFacts(): Promise<RunningKernelFacts> {
  const kallsyms = (await readKernelFile('/proc/kallsyms')).toString('utf8');
  if (/^0{16} T _text$/m.test(kallsyms)) {
    throw new SplicedError('PermissionDenied', 'building for the running kernel needs root: /proc/kallsyms hides addresses from this user');
  }
  const buildId = buildIdFromNotes(await readKernelFile('/sys/kernel/notes'));
  if (!buildId) throw new SplicedError('BuildFailed', '/sys/kernel/notes holds no GNU build id: the running kernel cannot be identified');
  return { kallsyms, buildId };
}

/**
 * The running kernel's code as Debian installed it (/boot/vmlinuz-R, unpacked once per build id into the tree's
 * cache), for a build that may not read live memory (the daemon's build unit): the facts come from the daemon, and the
 * file must carry the running build id.
 */
async function installedImage(tree: Tree, facts: RunningKernelFacts, step: StepListener): Promise<RunningKernel> {
  const dir = join(tree.cacheDir, 'installed-image');
  const vmlinux = join(dir, `vmlinux-${facts.buildId}`);
  if (!existsSync(vmlinux)) {
    step(`extracting vmlinux from /boot/vmlinuz-${tree.release}`);
    await mkdir(dir, { recursive: true });
    const bzImage = await readFile(`/boot/vmlinuz-${tree.release}`).catch((err: Error) => {
      throw new SplicedError('BuildFailed', `cannot read the running kernel's image: ${err.message}`);
    });
    await extractVmlinux(bzImage, join(dir, 'payload.xz'), `${vmlinux}.tmp`);
    await rename(`${vmlinux}.tmp`, vmlinux);
  }
  const code = await readFile(vmlinux);
  const fileBuildId = elfBuildId(code);
  if (fileBuildId !== facts.buildId) {
    throw new SplicedError('BuildFailed', `/boot/vmlinuz-${tree.release} (build id ${fileBuildId ?? 'none'}) is not the running kernel (${facts.buildId})`);
  }
  return vmlinuxFileSource(code, facts.kallsyms);
}

async function targetKernel(tree: Tree, step: StepListener, facts?: RunningKernelFacts): Promise<TargetKernel> {
  if (tree.release === osRelease()) {
    if (facts) return { ...facts, running: await installedImage(tree, facts, step), code: 'installed image' };
    const own = await readRunningKernelFacts();
    return { ...own, running: kcoreSource(own.kallsyms), code: 'running kernel' };
  }
  const image = await targetImage(tree, step);
  const kallsyms = await readFile(image.systemMap, 'utf8');
  return {
    kallsyms,
    buildId: image.buildId,
    running: vmlinuxFileSource(await readFile(image.vmlinux), kallsyms),
    code: 'image package',
    vmlinuxFiles: parseSameNamed(await readFile(image.sameNamed, 'utf8')),
    vmlinux: image.vmlinux,
  };
}

/**
 * The .ko of each target module, for modules that are not loaded while building: the installed one (modules.dep), or
 * for a release not installed here, the one in its image package.
 */
async function moduleFiles(tree: Tree, modules: string[]): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const release = tree.release;
  const depPath = `/lib/modules/${release}/modules.dep`;
  if (modules.length === 0) return files;
  if (!existsSync(depPath)) return targetModuleFiles(tree, modules);
  const paths = (await readFile(depPath, 'utf8')).split('\n').map((line) => line.slice(0, line.indexOf(':')));
  for (const module of new Set(modules)) {
    const path = paths.find((p) => p.split('/').pop()!.replace(/\.ko$/, '').replace(/-/g, '_') === module);
    if (path) files.set(module, await readFile(join(`/lib/modules/${release}`, path)));
  }
  return files;
}

/** The target's types; told as a step when a klp object has none (its layouts are then judged against pre only). */
function targetTypes(target: TargetKernel, modules: ReadonlyMap<string, Buffer>, step: StepListener): KernelTypes {
  const types = target.code === 'image package' ? imageKernelTypes(target.vmlinux!, modules) : runningKernelTypes(modules);
  const told = new Set<string>();
  return async (object) => {
    const found = await types(object);
    if (!found.btf && !told.has(object)) {
      told.add(object);
      step(`no kernel types for ${object} (${found.missing}): its layouts are compared between the pre and post objects only`);
    }
    return found;
  };
}

export async function generateSplice(input: SpliceInput): Promise<SpliceOutput> {
  const assembly = input.patch.files.filter((f) => /\.S$/.test(f.path));
  if (assembly.length > 0) {
    throw new SplicedError('UnsafePatch', `cannot livepatch assembly: ${assembly.map((f) => f.path).join(', ')}`, { reason: 'assembly' });
  }
  // The prepared tree is the module's headers (modules_prepare done, Debian's .config and Module.symvers), installed
  // headers package or not: one way on every host. Another build may patch it in place, so kbuild reads it under the
  // tree's lock (withTreeLock), held for the link only.
  const headersDir = input.tree.sourceDir;
  const header = input.patch.header;
  const target = await targetKernel(input.tree, input.step ?? (() => undefined), input.runningKernel);
  const name = spliceModuleName(input.patch.sha256);
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
  const modules = await moduleFiles(input.tree, pairs.map((p) => p.target).filter((t) => t !== 'vmlinux'));
  const { running, symbols } = withModuleFileCode(target, kernel, modules);
  // Which translation unit each same-named local comes from (sympos, run-pre): for another kernel, the symbol tables
  // of its -dbg package (Debian's .ko files have no file symbols); else the target modules' own .ko files. Outermost,
  // so they also annotate module entries that come from laid-out code.
  const files =
    target.code === 'image package'
      ? await targetModuleSameNamed(input.tree, [...modules.keys()])
      : new Map([...modules].map(([module, ko]) => [module, fileSymbols(ko)]));
  if (target.vmlinuxFiles) files.set('vmlinux', target.vmlinuxFiles);
  const report = await spliceFromPairs({
    pairs,
    kernel: withFileSymbols(symbols, files),
    running: { ...running, entriesOf: withFiles((object, name) => running.entriesOf(object, name), files) },
    kernelTypes: targetTypes(target, modules, input.step ?? (() => undefined)),
    headersDir,
    moduleName: name,
    patchSha256: input.patch.sha256,
    buildId: target.buildId,
    ...header,
    sourceVersion: input.tree.sourceVersion,
    makeArgs: input.tree.makeArgs.filter((a) => /^(-j|CC=|KERNELRELEASE=)/.test(a)),
    withHeaders: (link) => withTreeLock(input.tree, link),
  }).catch((err: unknown) => {
    // Say which source was compared: with --source-version, a mismatch usually means that source is not the kernel's.
    if (!isSplicedError(err, 'RunPreMismatch')) throw err;
    const { release, debianVersion, sourceVersion } = input.tree;
    throw new SplicedError('RunPreMismatch', `${err.message} (target ${release} ${debianVersion}, compiled from linux-source-6.1 ${sourceVersion})`, {
      ...err.details,
      release,
      debianVersion,
      sourceVersion,
    });
  });
  await writeFile(input.output, report.module);
  const objects = new Map<string, string[]>();
  report.diffs.forEach((d) => objects.set(d.target, [...(objects.get(d.target) ?? []), ...d.changed, ...d.added]));
  return {
    module: input.output,
    name,
    objects: [...objects].map(([object, functions]) => ({ name: object, functions })),
    buildId: target.buildId,
    targetCode: target.code,
    header,
    runPre: report.runPre.map((r) =>
      r.functions === 'skipped'
        ? { object: r.object, functions: 'skipped', reason: "the target's image package has no .ko of this module" }
        : { object: r.object, functions: r.functions.map((f) => f.name) },
    ),
    layoutCheck: report.layoutCheck,
  };
}
