// Which translation units a changed header (or #included .c file) reaches: the .c files that include it directly,
// through other headers, or through .c files that are themselves only #included (kernel/sched/stats.c in
// build_utility.c), walked over the tree's include graph (include-graph.ts). A header that reaches more units than a
// build may compile is refused with TooManyUnits, a cap of this builder (max_header_units), not a limit of live
// patching.

import { SplicedError } from '../../errors';
import { FORCED_HEADERS, IncludeGraph } from './include-graph';

/**
 * Default of max_header_units: each unit is compiled twice the first time (once when its unpatched object is cached),
 * 0.6–1.2 s per object at -j2 on the 2-core machines measured (docs/config.md), so about 5–10 minutes at the cap.
 */
export const DEFAULT_MAX_HEADER_UNITS = 200;

export interface Reach {
  /** .c files that kbuild compiles on their own and that include the file, directly or not. */
  units: string[];
  /** Headers and #included .c files on the way. */
  via: string[];
}

/**
 * Every translation unit `file` reaches. `isUnit` says whether kbuild compiles a .c file on its own (one that is
 * not is followed further, like a header). More than `limit` units, a chain through more than `limit` headers, or a
 * header kbuild forces into every unit, is TooManyUnits.
 */
export function reachOf(graph: IncludeGraph, file: string, isUnit: (c: string) => boolean, limit: number): Reach {
  const units = new Set<string>();
  const seen = new Set<string>([file]);
  let frontier = [file];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const current of frontier) {
      if (FORCED_HEADERS.includes(current)) throw tooManyUnits(file, limit + 1, seen.size, limit);
      for (const found of graph.includersOf(current)) {
        if (found.endsWith('.c') && isUnit(found)) units.add(found);
        else if (!seen.has(found)) {
          seen.add(found);
          next.push(found);
        }
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
