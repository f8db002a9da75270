// Compiles only the translation units a patch touches, before and after applying it, in the cached tree with
// the tree's one make invocation, and hands the differ pre/post object pairs tagged with the module they belong to.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../errors';
import { applyWithJournal, checkApplies, restoreTree } from './apply';
import { linkageOf, readConfig } from './kbuild';
import { withLock } from './lock';
import type { ParsedPatch } from './patchfile';
import { run, tail } from './process';
import { make, Tree } from './tree';

/** One translation unit compiled before and after the patch. */
export interface ObjectPair {
  /** Source file relative to the tree, e.g. "fs/ext4/inode.c". */
  tu: string;
  /** Object relative to the tree, e.g. "fs/ext4/inode.o". */
  object: string;
  /** The module the object is linked into (kernel name, `-` as `_`), or undefined for vmlinux. */
  module?: string;
  /** Absolute paths of the two objects. */
  pre: string;
  post: string;
}

export interface CompileResult {
  pairs: ObjectPair[];
  /** Headers the patch changes; their includers are among the pairs (see docs/build.md for the limits). */
  headers: string[];
  /** Touched .c files this configuration does not compile on their own (not configured, or only #included). */
  notBuilt: string[];
  /** Whether an interrupted earlier build had left the tree patched (it was restored first). */
  repairedTree: boolean;
  durationMs: number;
}

/** More includers than this for one header means a widely used header: refused rather than hundreds of compiles. */
export const MAX_HEADER_INCLUDERS = 24;
const LOCK_TIMEOUT_MS = 30 * 60_000;

const objectOf = (tu: string) => tu.replace(/\.c$/, '.o');

/** The name a header is included by (`linux/foo.h` for include/linux/foo.h, `asm/x.h` for arch/x86/include/asm/x.h) and where to look. */
function includeName(header: string): { name: string; scope: string } {
  const global = /^(?:arch\/[^/]+\/)?include\/(?:uapi\/)?(.+)$/.exec(header);
  if (global) return { name: global[1], scope: '.' };
  // A local header is included by name from its own directory (and, rarely, subdirectories).
  return { name: path.posix.basename(header), scope: path.posix.dirname(header) };
}

const NOT_KERNEL_DIRS = ['tools', 'Documentation', 'samples', 'scripts', 'usr'];
/** The one architecture Debian's amd64 kernels are built for: other arch/ directories never matter. */
const ARCH = 'x86';

/** Translation units that #include the header directly (transitive includes are not followed: see docs/build.md). */
async function includersOf(tree: Tree, header: string): Promise<string[]> {
  const { name, scope } = includeName(header);
  const pattern = `#\\s*include\\s*[<"]${name.replace(/[.+]/g, '\\$&')}[>"]`;
  const excludes = scope === '.' ? NOT_KERNEL_DIRS.map((d) => `--exclude-dir=${d}`) : [];
  const res = await run('grep', ['-rlE', '--include=*.c', ...excludes, pattern, scope], { cwd: tree.sourceDir });
  if (res.code > 1) throw new SplicedError('Internal', `searching the includers of ${header} failed: ${tail(res.stderr)}`);
  return res.stdout
    .split('\n')
    .filter(Boolean)
    .map((p) => path.posix.normalize(p))
    .filter((p) => !p.startsWith('arch/') || p.startsWith(`arch/${ARCH}/`))
    .sort();
}

/** Which TUs to compile for this patch, in a stable order. */
export async function touchedUnits(
  tree: Tree,
  patch: ParsedPatch,
): Promise<{ units: string[]; headers: string[]; included: Set<string> }> {
  const units = new Set<string>();
  const headers: string[] = [];
  /** Touched .c files that other .c files #include. */
  const included = new Set<string>();
  for (const file of patch.files) {
    if (file.role === 'other') continue;
    if (file.role === 'c' && file.change === 'delete') {
      throw new SplicedError('UnsafePatch', `the patch deletes the source file ${file.path}`, { reason: 'build-system', path: file.path });
    }
    if (file.role === 'c' && file.change === 'modify') units.add(file.path);
    if (file.role === 'header') headers.push(file.path);
    // Headers, and .c files that other .c files #include (kernel/sched/build_utility.c includes stats.c, ...).
    const includers = await includersOf(tree, file.path);
    if (includers.length > MAX_HEADER_INCLUDERS) {
      throw new SplicedError(
        'UnsafePatch',
        `the patch changes ${file.path}, which ${includers.length} source files include; changes to widely used headers are not supported`,
        { reason: 'wide-header', path: file.path, includers: includers.length },
      );
    }
    for (const tu of includers) units.add(tu);
    if (file.role === 'c' && includers.length > 0) included.add(file.path);
  }
  return { units: [...units].sort(), headers, included };
}

/** The module an object is built into, from the compile command kbuild saved (`-DMODULE`, KBUILD_MODNAME). */
async function moduleOf(tree: Tree, object: string): Promise<string | undefined> {
  const cmdFile = path.join(tree.sourceDir, path.dirname(object), `.${path.basename(object)}.cmd`);
  const cmd = (await fs.readFile(cmdFile, 'utf8')).split('\n')[0];
  if (!/\s-DMODULE\s/.test(cmd)) return undefined;
  const name = /-DKBUILD_MODNAME='"([^"]+)"'/.exec(cmd)?.[1];
  if (!name) throw new SplicedError('Internal', `${cmdFile} names no KBUILD_MODNAME for a module object`);
  return name;
}

interface Compiled {
  object: string;
  module?: string;
}

/**
 * Builds `objects` in the tree (deleting them first: make must not trust an object from the other side of the
 * patch). Objects this configuration does not build are left out of the result; any other failure is BuildFailed.
 */
async function makeObjects(tree: Tree, objects: string[], side: 'pre' | 'post'): Promise<Compiled[]> {
  if (objects.length === 0) return [];
  for (const o of objects) await fs.rm(path.join(tree.sourceDir, o), { force: true });
  const res = await make(tree, ['-k', ...objects]);
  const notConfigured = new Set([...res.stderr.matchAll(/No rule to make target '([^']+)'/g)].map((m) => m[1]));
  const built: Compiled[] = [];
  const failed: string[] = [];
  for (const object of objects) {
    // kbuild deletes a target whose recipe failed, so an object that exists was built by this make.
    const exists = await fs.stat(path.join(tree.sourceDir, object)).then(() => true, () => false);
    if (exists) built.push({ object, module: await moduleOf(tree, object) });
    else if (side === 'post' || !notConfigured.has(object)) failed.push(object);
  }
  if (failed.length > 0) {
    throw new SplicedError(
      'BuildFailed',
      `compiling the ${side === 'pre' ? 'unpatched' : 'patched'} ${failed.join(', ')} failed:\n${tail(res.stderr, 25)}`,
      { side, objects: failed },
    );
  }
  return built;
}

async function copyTo(source: string, dest: string): Promise<void> {
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.copyFile(source, dest);
}

/** A cached pre object's metadata; `built: false` remembers that this configuration does not build it. */
interface PreCacheEntry {
  built: boolean;
  module?: string;
}

function preCachePath(tree: Tree, object: string): string {
  return path.join(tree.cacheDir, 'pre-objects', object);
}

/**
 * Pre objects come from the pristine tree, so each is compiled once per tree and kept next to it, then copied to
 * `outDir/pre/`. Returns the objects this configuration builds, with their module.
 */
async function preObjects(tree: Tree, objects: string[], outDir: string): Promise<Map<string, Compiled>> {
  const entries = new Map<string, PreCacheEntry>();
  for (const object of objects) {
    const meta = await fs.readFile(preCachePath(tree, object) + '.json', 'utf8').catch(() => undefined);
    if (meta !== undefined) entries.set(object, JSON.parse(meta) as PreCacheEntry);
  }
  const missing = objects.filter((o) => !entries.has(o));
  const compiled = new Map((await makeObjects(tree, missing, 'pre')).map((c) => [c.object, c]));
  for (const object of missing) {
    const cached = preCachePath(tree, object);
    const entry: PreCacheEntry = { built: compiled.has(object), module: compiled.get(object)?.module };
    if (entry.built) {
      await copyTo(path.join(tree.sourceDir, object), cached + '.tmp');
      await fs.rename(cached + '.tmp', cached);
    }
    // The metadata is written last: its presence marks a complete cache entry.
    await fs.mkdir(path.dirname(cached), { recursive: true });
    await fs.writeFile(cached + '.json', JSON.stringify(entry));
    entries.set(object, entry);
  }
  const result = new Map<string, Compiled>();
  for (const [object, entry] of entries) {
    if (!entry.built) continue;
    await copyTo(preCachePath(tree, object), path.join(outDir, 'pre', object));
    result.set(object, { object, module: entry.module });
  }
  return result;
}

/**
 * Compiles the TUs the patch touches before and after it, into `outDir/pre/<object>` and `outDir/post/<object>`.
 * Refuses a patch that touches no TU this kernel builds with NoChange.
 */
export async function compileTouched(tree: Tree, patch: ParsedPatch, outDir: string): Promise<CompileResult> {
  const started = Date.now();
  return withLock(tree.lockPath, `${tree.release} (${tree.debianVersion})`, LOCK_TIMEOUT_MS, async () => {
    // A journal left by an interrupted build means the tree is still patched: undo that first.
    const repairedTree = await restoreTree(tree);
    if (patch.kernelText === '') {
      throw new SplicedError('NoChange', 'the patch changes no kernel source file', { files: patch.files.map((f) => f.path) });
    }
    await checkApplies(tree, patch);
    const { units, headers, included } = await touchedUnits(tree, patch);
    const config = await readConfig(tree.sourceDir);
    const compiled: string[] = [];
    for (const tu of units) {
      const linkage = await linkageOf(tree.sourceDir, objectOf(tu), config);
      // A .c file no Makefile names but another .c includes is compiled through that includer only.
      if (linkage === 'linked' || (linkage === 'unlisted' && !included.has(tu))) compiled.push(tu);
    }
    const objects = compiled.map(objectOf);

    const pre = await preObjects(tree, objects, outDir);
    const builtObjects = objects.filter((o) => pre.has(o));
    const notBuilt = units.filter((tu) => !pre.has(objectOf(tu)));
    if (builtObjects.length === 0) {
      throw new SplicedError('NoChange', 'the patch changes no source file this kernel is built from', { notBuilt, headers });
    }

    await applyWithJournal(tree, patch);
    try {
      await makeObjects(tree, builtObjects, 'post');
      for (const object of builtObjects) await copyTo(path.join(tree.sourceDir, object), path.join(outDir, 'post', object));
    } finally {
      await restoreTree(tree);
    }

    const pairs = builtObjects.map((object): ObjectPair => ({
      tu: units.find((tu) => objectOf(tu) === object) as string,
      object,
      module: pre.get(object)?.module,
      pre: path.resolve(outDir, 'pre', object),
      post: path.resolve(outDir, 'post', object),
    }));
    return { pairs, headers, notBuilt, repairedTree, durationMs: Date.now() - started };
  });
}
