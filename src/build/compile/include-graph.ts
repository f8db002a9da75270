// The #include graph of a prepared tree: for each file, the files that include it, each `#include` resolved the way
// the compiler's search does in Debian's amd64 build — a quoted name beside its includer first, then the kernel's
// global include directories in kbuild's order (LINUXINCLUDE), then a subsystem's own include directory (kbuild
// Makefiles add `-I$(srctree)/$(src)/…`: an ancestor A of a file with A/name = that file, the includer under A, or
// under A's parent when that is below a top-level directory — `gt/intel_gt.h` from i915's display/, `atombios.h`
// from amdgpu/ with -I …/amd/include).
// The last rule may name a file the real search would not (over-reach only compiles a unit more); names built by
// macros (`#include TRACE_INCLUDE(…)`) are not followed. The headers kbuild forces into every unit (`-include`) reach
// every unit. Built with one grep over the tree (seconds) the first time, and kept beside objects.json.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { run, tail } from '../process';
import { cachedJson } from '../tree/cache-file';

/** The one architecture Debian's amd64 kernels are built for: other arch/ directories never matter. */
const ARCH = 'x86';
/** Top-level trees that hold no kernel code (host tools, docs, examples, the initramfs generator, licences, packaging). */
export const NOT_KERNEL_DIRS = ['Documentation', 'tools', 'samples', 'scripts', 'usr', 'LICENSES', 'debian'];
/** kbuild's LINUXINCLUDE for x86, in its order. */
const GLOBAL_DIRS = [
  `arch/${ARCH}/include`,
  `arch/${ARCH}/include/generated`,
  'include',
  `arch/${ARCH}/include/uapi`,
  `arch/${ARCH}/include/generated/uapi`,
  'include/uapi',
  'include/generated/uapi',
];
/** Headers kbuild puts in front of every unit with `-include` (LINUXINCLUDE and c_flags of 6.1). */
export const FORCED_HEADERS = ['include/linux/compiler-version.h', 'include/linux/kconfig.h', 'include/linux/compiler_types.h'];

/** The graph's file in a tree's cache entry. */
export const INCLUDE_GRAPH = 'includes.json';
const INCLUDE_LINE = /^(.+?):\s*#\s*include\s*([<"])([^">]+)[>"]/;

export interface IncludeGraph {
  /** The files that #include `file` (relative to the tree), as resolved above. */
  includersOf(file: string): readonly string[];
}

/** On disk: every file once, and per file the indexes of its includers. */
interface StoredGraph {
  files: string[];
  includedBy: number[][];
}

/** A tree's .c and .h files (relative paths), and the same by file name, for resolveInclude(). */
export interface TreeFiles {
  files: ReadonlySet<string>;
  byBase: ReadonlyMap<string, string[]>;
}

export function treeFiles(list: readonly string[]): TreeFiles {
  const byBase = new Map<string, string[]>();
  for (const f of list) {
    const base = path.posix.basename(f);
    const same = byBase.get(base);
    if (same) same.push(f);
    else byBase.set(base, [f]);
  }
  return { files: new Set(list), byBase };
}

/** Where `#include` text `name` from `includer` leads, given the tree's files. */
export function resolveInclude(includer: string, name: string, quoted: boolean, { files, byBase }: TreeFiles): string[] {
  const clean = path.posix.normalize(name);
  if (quoted) {
    const beside = path.posix.normalize(path.posix.join(path.posix.dirname(includer), clean));
    if (files.has(beside)) return [beside];
  }
  if (clean.startsWith('../') || path.posix.isAbsolute(clean)) return [];
  const global = GLOBAL_DIRS.map((d) => `${d}/${clean}`).find((p) => files.has(p));
  if (global) return [global];
  // A subsystem's -I directory A: the file A/name; the includer under A, or under A's parent (a sibling directory of
  // the same subsystem) when that parent is not a top-level directory, where siblings are unrelated drivers.
  return (byBase.get(path.posix.basename(clean)) ?? []).filter((candidate) => {
    if (!candidate.endsWith(`/${clean}`)) return false;
    const dir = candidate.slice(0, candidate.length - clean.length - 1);
    const around = path.posix.dirname(dir);
    return includer.startsWith(`${dir}/`) || (around.includes('/') && includer.startsWith(`${around}/`));
  });
}

/** The directories grep reads: every top-level one that may hold kernel code, and only this architecture of arch/. */
async function kernelDirs(sourceDir: string): Promise<string[]> {
  const entries = await fs.readdir(sourceDir, { withFileTypes: true });
  const dirs = entries.filter((e) => e.isDirectory() && !NOT_KERNEL_DIRS.includes(e.name) && e.name !== 'arch' && !e.name.startsWith('.'));
  return [...dirs.map((e) => e.name), `arch/${ARCH}`].sort();
}

/** Reads every .c and .h file's #include lines and resolves them. */
export async function buildIncludeGraph(sourceDir: string): Promise<StoredGraph> {
  const dirs = await kernelDirs(sourceDir);
  const listing = await run('find', [...dirs, '-type', 'f', '(', '-name', '*.c', '-o', '-name', '*.h', ')'], { cwd: sourceDir });
  if (listing.code !== 0) throw new SplicedError('Internal', `listing the tree's sources failed: ${tail(listing.stderr)}`);
  const fileList = listing.stdout.split('\n').filter(Boolean).map((p) => path.posix.normalize(p));
  const tree = treeFiles(fileList);
  const pattern = '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^">]+[>"]';
  const grep = await run('grep', ['-rHoE', '--include=*.c', '--include=*.h', pattern, ...dirs], { cwd: sourceDir });
  if (grep.code > 1) throw new SplicedError('Internal', `reading the tree's #include lines failed: ${tail(grep.stderr)}`);
  const index = new Map(fileList.map((f, i) => [f, i]));
  const includedBy: Set<number>[] = fileList.map(() => new Set());
  for (const line of grep.stdout.split('\n')) {
    const m = INCLUDE_LINE.exec(line);
    if (!m) continue;
    const includer = path.posix.normalize(m[1]);
    const from = index.get(includer);
    if (from === undefined) continue;
    for (const target of resolveInclude(includer, m[3], m[2] === '"', tree)) includedBy[index.get(target)!].add(from);
  }
  return { files: fileList, includedBy: includedBy.map((s) => [...s]) };
}

function graphOf(stored: StoredGraph): IncludeGraph {
  const index = new Map(stored.files.map((f, i) => [f, i]));
  return { includersOf: (file) => (stored.includedBy[index.get(file) ?? -1] ?? []).map((i) => stored.files[i]) };
}

/** The tree's include graph, built on first use and kept in its cache directory (callers hold the tree lock). */
export async function includeGraph(tree: { sourceDir: string; cacheDir: string }): Promise<IncludeGraph> {
  return graphOf(await cachedJson(path.join(tree.cacheDir, INCLUDE_GRAPH), () => buildIncludeGraph(tree.sourceDir)));
}
