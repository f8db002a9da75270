// Which translation units a changed header (or #included .c file) reaches: the .c files that include it directly,
// through other headers, or through .c files that are themselves only #included (kernel/sched/stats.c in
// build_utility.c). Found with grep over the tree, level by level (seconds, where kbuild's dependency lists would
// need every unit of the kernel preprocessed first); a header that reaches more units than a build may compile is
// refused with TooManyUnits, a cap of this builder (max_header_units), not a limit of live patching.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { run, tail } from '../process';

/**
 * Default of max_header_units: each unit is compiled twice the first time (once when its unpatched object is cached),
 * 0.6–1.2 s per object at -j2 on the 2-core machines measured (docs/config.md), so about 5–10 minutes at the cap.
 */
export const DEFAULT_MAX_HEADER_UNITS = 200;

/** How a file is #included and where to look for includers. */
interface IncludeTarget {
  name: string;
  /** "." for the whole tree; a directory for a local header. */
  scope: string;
}

/** `linux/foo.h` for include/linux/foo.h (and arch/x86/include/{,generated/,uapi/}…); a local file by its own name. */
export function includeTarget(file: string): IncludeTarget {
  const global = /^(?:arch\/[^/]+\/)?include\/(?:generated\/)?(?:uapi\/)?(.+)$/.exec(file);
  if (global) return { name: global[1], scope: '.' };
  // A local file is included by name from its own directory (and, rarely, subdirectories).
  return { name: path.posix.basename(file), scope: path.posix.dirname(file) };
}

/** Top-level trees that hold no kernel code (host tools, docs, examples, the initramfs generator, licences, packaging). */
export const NOT_KERNEL_DIRS = ['Documentation', 'tools', 'samples', 'scripts', 'usr', 'LICENSES', 'debian'];
/** The one architecture Debian's amd64 kernels are built for: other arch/ directories never matter. */
const ARCH = 'x86';

const isDirectory = (dir: string) => fs.stat(dir).then((s) => s.isDirectory(), () => false);

/** Files (.c and .h) that #include any of the targets directly. */
async function directIncluders(sourceDir: string, targets: IncludeTarget[]): Promise<string[]> {
  const byScope = new Map<string, string[]>();
  for (const t of targets) byScope.set(t.scope, [...(byScope.get(t.scope) ?? []), t.name]);
  const found: string[] = [];
  for (const [scope, names] of byScope) {
    // A file the patch adds in a directory it also adds: nothing in the tree can include it yet.
    if (!(await isDirectory(path.join(sourceDir, scope)))) continue;
    const alternatives = names.map((n) => n.replace(/[.+]/g, '\\$&')).join('|');
    const pattern = `^\\s*#\\s*include\\s*[<"](${alternatives})[>"]`;
    const excludes = scope === '.' ? NOT_KERNEL_DIRS.map((d) => `--exclude-dir=${d}`) : [];
    const res = await run('grep', ['-rlE', '--include=*.c', '--include=*.h', ...excludes, pattern, scope], { cwd: sourceDir });
    if (res.code > 1) throw new SplicedError('Internal', `searching the includers of ${names.join(', ')} failed: ${tail(res.stderr)}`);
    found.push(...res.stdout.split('\n').filter(Boolean).map((p) => path.posix.normalize(p)));
  }
  return found.filter((p) => !p.startsWith('arch/') || p.startsWith(`arch/${ARCH}/`));
}

export interface Reach {
  /** .c files that kbuild compiles on their own and that include the file, directly or not. */
  units: string[];
  /** Headers and #included .c files on the way. */
  via: string[];
}

/**
 * Every translation unit `file` reaches. `isUnit` says whether kbuild compiles a .c file on its own (one that is
 * not is followed further, like a header). More than `limit` units, or a chain through more than `limit` headers,
 * is TooManyUnits.
 */
export async function reachOf(sourceDir: string, file: string, isUnit: (c: string) => boolean, limit: number): Promise<Reach> {
  const units = new Set<string>();
  const seen = new Set<string>([file]);
  let frontier = [file];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const found of await directIncluders(sourceDir, frontier.map(includeTarget))) {
      if (found.endsWith('.c') && isUnit(found)) units.add(found);
      else if (!seen.has(found)) {
        seen.add(found);
        next.push(found);
      }
    }
    if (units.size > limit || seen.size > limit) {
      throw tooManyUnits(file, units.size, seen.size, limit);
    }
    frontier = next;
  }
  seen.delete(file);
  return { units: [...units].sort(), via: [...seen].sort() };
}

/** The named refusal of a patch whose files reach more units than one build may compile (`limit`). */
export function tooManyUnits(file: string, units: number, headers: number, limit: number): SplicedError {
  return new SplicedError(
    'TooManyUnits',
    `the patch changes ${file}, which reaches ${units > limit ? `more than ${limit}` : `${units}`} translation units` +
      `${headers > limit ? ` (through more than ${limit} headers)` : ''} of this kernel through #include; spliced compiles` +
      ` at most ${limit} per patch (max_header_units in spliced.conf)`,
    { path: file, units, headers, cap: limit },
  );
}
