// Compiles only the translation units a patch touches, before and after applying it, in the cached tree with
// the tree's one make invocation, and hands the differ pre/post object pairs tagged with the module they belong to.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { applyWithJournal, checkApplies, restoreTree } from '../tree/patch-journal';
import { assertNoHostToolChange } from '../tree/host-tools';
import { make } from '../tree/kmake';
import { includeGraph, IncludeGraph } from './include-graph';
import { DEFAULT_MAX_HEADER_UNITS, reachOf, tooManyUnits } from './includers';
import { KernelObject, objectIndex } from '../tree/objects';
import type { ParsedPatch } from '../patch/patchfile';
import { tail } from '../process';
import { checkTreeCompiler, StepListener, Tree, withTreeLock } from '../tree/tree';

/** One translation unit compiled before and after the patch. */
export interface CompiledUnit {
  /** Source file relative to the tree, e.g. "fs/ext4/inode.c". */
  tu: string;
  /** Object relative to the tree, e.g. "fs/ext4/inode.o" (normalised: "virt/kvm/kvm_main.o"). */
  object: string;
  /** The module the object is linked into (kernel name, `-` as `_`), or undefined for vmlinux. */
  module?: string;
  /** Absolute paths of the two objects. */
  pre: string;
  post: string;
}

export interface CompileResult {
  pairs: CompiledUnit[];
  /** Headers the patch changes; their includers are among the pairs (see docs/build.md for the limits). */
  headers: string[];
  /** Touched .c files this configuration does not compile on their own (not configured, or only #included). */
  notBuilt: string[];
  /** Whether an interrupted earlier build had left the tree patched (it was restored first). */
  repairedTree: boolean;
  /** Patched objects taken from an earlier build of the same patched inputs instead of compiled (post-objects/). */
  reusedPost: string[];
  durationMs: number;
}

/** How much one build may compile: above the cap (config max_header_units) a patch is refused with TooManyUnits. */
export interface CompileLimits {
  maxHeaderUnits: number;
}

/** Which TUs to compile for this patch, in a stable order, given kbuild's object index. */
export async function touchedUnits(
  tree: Tree,
  patch: ParsedPatch,
  index: ReadonlyMap<string, KernelObject[]>,
  limits: CompileLimits,
): Promise<{ units: string[]; headers: string[] }> {
  const units = new Set<string>();
  const headers: string[] = [];
  const graph = await includeGraph(tree);
  for (const file of patch.files) {
    if (file.role === 'other') continue;
    if (file.role === 'c' && file.change === 'delete') {
      throw new SplicedError('UnsafePatch', `the patch deletes the source file ${file.path}`, { reason: 'build-system', path: file.path });
    }
    if (file.role === 'c' && file.change === 'modify') units.add(file.path);
    if (file.role === 'header') headers.push(file.path);
    // Headers, and .c files that other .c files #include (kernel/sched/build_utility.c includes stats.c, ...).
    const reach = reachOf(graph, file.path, (c) => index.has(c), limits.maxHeaderUnits);
    for (const tu of reach.units) units.add(tu);
  }
  // Each header may stay under the cap while together they pass it.
  if (units.size > limits.maxHeaderUnits) {
    throw tooManyUnits(patch.files.map((f) => f.path).join(', '), units.size, 0, limits.maxHeaderUnits);
  }
  return { units: [...units].sort(), headers };
}

/** Where an object is on disk: kbuild's target path may go through "..". */
const objectPath = (o: KernelObject) => path.posix.normalize(o.target);

/**
 * Builds the objects in the tree, deleting them first: make must not trust an object from the other side of the
 * patch. Any failure is BuildFailed with the compiler's last words.
 */
async function makeObjects(tree: Tree, objects: KernelObject[], side: 'pre' | 'post'): Promise<void> {
  if (objects.length === 0) return;
  for (const o of objects) await fs.rm(path.join(tree.sourceDir, objectPath(o)), { force: true });
  let res = await make(tree, ['-k', ...objects.map((o) => o.target)]);
  let failed = await unbuilt(tree, objects);
  if (failed.length > 0) {
    // kbuild can reach one directory twice in a single-target build (arch/x86/pci/ from arch/x86/ and from the top
    // level's drivers-y): at -j2 both descents compile the object at once, and one's fixdep finds the other's .d file
    // gone. One retry, one job at a time, tells that race from a real compile error.
    res = await make(tree, ['-j1', '-k', ...failed.map((o) => o.target)]);
    failed = await unbuilt(tree, failed);
  }
  if (failed.length > 0) {
    throw new SplicedError(
      'BuildFailed',
      `compiling the ${side === 'pre' ? 'unpatched' : 'patched'} ${failed.map(objectPath).join(', ')} failed:\n${tail(res.stderr, 25)}`,
      { side, objects: failed.map(objectPath) },
    );
  }
}

/** The objects make did not leave behind: kbuild deletes a target whose recipe failed. */
async function unbuilt(tree: Tree, objects: KernelObject[]): Promise<KernelObject[]> {
  const missing: KernelObject[] = [];
  for (const o of objects) if (!(await exists(path.join(tree.sourceDir, objectPath(o))))) missing.push(o);
  return missing;
}

const exists = (file: string) => fs.stat(file).then(() => true, () => false);

async function copyTo(source: string, dest: string): Promise<void> {
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.copyFile(source, dest);
}

/** Keeps the object `source` (in the tree) as `cached`, renamed into place: a cached object is always complete. */
async function keepObject(source: string, cached: string): Promise<void> {
  await copyTo(source, cached + '.tmp');
  await fs.rename(cached + '.tmp', cached);
}

/** Pre objects come from the pristine tree, so each is compiled once per tree and kept in `pre-objects/`. */
async function preObjects(tree: Tree, objects: KernelObject[], outDir: string): Promise<void> {
  const cached = (o: KernelObject) => path.join(tree.cacheDir, 'pre-objects', objectPath(o));
  const missing: KernelObject[] = [];
  for (const o of objects) if (!(await exists(cached(o)))) missing.push(o);
  await makeObjects(tree, missing, 'pre');
  for (const o of missing) await keepObject(path.join(tree.sourceDir, objectPath(o)), cached(o));
  for (const o of objects) await copyTo(cached(o), path.join(outDir, 'pre', objectPath(o)));
}

/** Patched objects kept per tree: about a feed version's worth of large objects (mballoc.o is 1.5 MB). */
const POST_OBJECTS_KEPT = 200;

/**
 * The patched files a unit's object may depend on: every built file of the patch but the other units it cannot read
 * (a .c file kbuild compiles on its own, #included by no file of the tree and not named by this unit's patched text).
 * Conservative on purpose: a header counts even if the unit does not include it today, as its patched text might.
 */
function postInputs(tu: string, patched: ReadonlyMap<string, Buffer | null>, units: ReadonlySet<string>, graph: IncludeGraph): string[] {
  const tuText = patched.get(tu)?.toString('latin1') ?? '';
  const unread = (file: string) =>
    file !== tu && units.has(file) && graph.includersOf(file).length === 0 && !tuText.includes(path.posix.basename(file));
  return [...patched.keys()].filter((file) => !unread(file)).sort();
}

/** Names a patched object by all it is compiled from in this tree: the object, its unit and its inputs' patched text. */
function postKey(tu: string, object: string, inputs: string[], patched: ReadonlyMap<string, Buffer | null>): string {
  const hash = createHash('sha256').update(JSON.stringify([object, tu]));
  for (const file of inputs) {
    const text = patched.get(file);
    hash.update(JSON.stringify([file, text ? createHash('sha256').update(text).digest('hex') : null]));
  }
  return hash.digest('hex');
}

/**
 * Patched objects are kept per tree too (`post-objects/<key>.o`), named by postKey: an object an earlier build
 * compiled from the same patched inputs is taken from there, so a cumulative splice (the distro feed's next version
 * carries the last one's fixes) compiles only what is new, and a build whose objects are all there does not patch
 * the tree at all. The least recently used beyond POST_OBJECTS_KEPT go.
 */
async function postObjects(
  tree: Tree,
  patch: ParsedPatch,
  patched: ReadonlyMap<string, Buffer | null>,
  built: { tu: string; object: KernelObject }[],
  outDir: string,
  step: StepListener,
): Promise<string[]> {
  const cacheDir = path.join(tree.cacheDir, 'post-objects');
  const graph = await includeGraph(tree);
  const units = new Set(built.map((b) => b.tu));
  const keyed = built.map(({ tu, object }) => {
    const key = postKey(tu, objectPath(object), postInputs(tu, patched, units, graph), patched);
    return { object, cached: path.join(cacheDir, `${key}.o`) };
  });
  const missing: typeof keyed = [];
  for (const k of keyed) if (!(await exists(k.cached))) missing.push(k);
  if (missing.length > 0) {
    step(`applying the patch and compiling the patched ${missing.map((k) => objectPath(k.object)).join(', ')}`);
    await applyWithJournal(tree, patch);
    try {
      await makeObjects(tree, missing.map((k) => k.object), 'post');
      for (const k of missing) await keepObject(path.join(tree.sourceDir, objectPath(k.object)), k.cached);
    } finally {
      await restoreTree(tree);
    }
  }
  const reused = keyed.filter((k) => !missing.includes(k)).map((k) => objectPath(k.object));
  if (reused.length > 0) step(`the patched ${reused.join(', ')} as an earlier build compiled it from the same sources`);
  const now = new Date();
  for (const k of keyed) {
    await fs.utimes(k.cached, now, now); // its last use, for the pruning below
    await copyTo(k.cached, path.join(outDir, 'post', objectPath(k.object)));
  }
  await pruneOldest(cacheDir, POST_OBJECTS_KEPT);
  return reused;
}

/** Keep the `keep` most recently modified files of `dir`. */
async function pruneOldest(dir: string, keep: number): Promise<void> {
  const names = await fs.readdir(dir);
  if (names.length <= keep) return;
  const dated = await Promise.all(names.map(async (name) => ({ name, mtime: (await fs.stat(path.join(dir, name))).mtimeMs })));
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(keep)) await fs.rm(path.join(dir, name), { force: true });
}

/**
 * The unpatched objects, compiled as a build compiles them (pre-objects cache included), into `outDir/pre/<object>`:
 * what run-pre's self-check (bench/runpre-selfcheck.ts) compares with the distribution's own binaries.
 */
export async function compileUnpatched(tree: Tree, objects: KernelObject[], outDir: string): Promise<void> {
  await withTreeLock(tree, async () => {
    await restoreTree(tree);
    await checkTreeCompiler(tree);
    await preObjects(tree, objects, outDir);
  });
}

/**
 * Compiles the TUs the patch touches before and after it, into `outDir/pre/<object>` and `outDir/post/<object>`.
 * Refuses a patch that touches no TU this kernel builds with NoChange.
 */
export async function compileTouched(
  tree: Tree,
  patch: ParsedPatch,
  outDir: string,
  step: StepListener = () => undefined,
  limits: CompileLimits = { maxHeaderUnits: DEFAULT_MAX_HEADER_UNITS },
): Promise<CompileResult> {
  const started = Date.now();
  return withTreeLock(tree, async () => {
    // A journal left by an interrupted build means the tree is still patched: undo that first.
    const repairedTree = await restoreTree(tree);
    await checkTreeCompiler(tree);
    if (patch.kernelText === '') {
      throw new SplicedError('NoChange', 'the patch changes no kernel source file', { files: patch.files.map((f) => f.path) });
    }
    const patched = await checkApplies(tree, patch);
    const index = await objectIndex(tree);
    await assertNoHostToolChange(tree.sourceDir, patch, index);
    const { units, headers } = await touchedUnits(tree, patch, index, limits);
    const built = units.flatMap((tu) => (index.get(tu) ?? []).map((object) => ({ tu, object })));
    const notBuilt = units.filter((tu) => !index.has(tu));
    if (built.length === 0) {
      throw new SplicedError('NoChange', 'the patch changes no source file this kernel is built from', { notBuilt, headers });
    }
    const objects = built.map((b) => b.object);
    const names = objects.map(objectPath).join(', ');

    step(`compiling the unpatched ${names}`);
    await preObjects(tree, objects, outDir);
    const reusedPost = await postObjects(tree, patch, patched, built, outDir, step);

    const pairs = built.map(({ tu, object }): CompiledUnit => ({
      tu,
      object: objectPath(object),
      ...(object.module && { module: object.module }),
      pre: path.resolve(outDir, 'pre', objectPath(object)),
      post: path.resolve(outDir, 'post', objectPath(object)),
    }));
    return { pairs, headers, notBuilt, repairedTree, reusedPost, durationMs: Date.now() - started };
  });
}
