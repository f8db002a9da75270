// The source delta between two linux-source versions, kept to the files this kernel's build compiles or includes
// (delta-filter.ts): one unified diff per kept file, and a count of what was left out and why. Each side is a
// manifest (a digest per file) plus a way to read chosen files, so only changed files are ever read in full.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { classify, FilterContext, IgnoredReason, KeptKind } from './delta-filter';
import type { Manifest } from './source-deb';
import { unifiedDiff } from './unified-diff';

export interface SourceSide {
  version: string;
  manifest: Manifest;
  /** The contents of the given regular files. */
  read(files: ReadonlySet<string>): Promise<Map<string, Buffer>>;
}

export interface DeltaContext extends FilterContext {
  /** Whether a .c file kbuild does not compile on its own is #included by one it does. */
  isIncluded(file: string): Promise<boolean>;
}

export type Change = 'modified' | 'added' | 'removed';

export interface DeltaFile {
  path: string;
  kind: KeptKind;
  change: Change;
  /** Unified diff, a/ and b/ prefixes. */
  diff: string;
}

export interface DeltaSummary {
  /** Every path whose content differs between the two trees. */
  changed: number;
  kept: Record<KeptKind, number>;
  ignored: Record<IgnoredReason, number>;
  /** Changed Makefiles, Kbuild and Kconfig files in kernel directories: they may change what is built. */
  buildFiles: string[];
}

export interface Delta {
  from: string;
  to: string;
  files: DeltaFile[];
  summary: DeltaSummary;
}

const isFile = (digest: string | undefined) => digest !== undefined && !digest.startsWith('symlink:');

export async function computeDelta(older: SourceSide, newer: SourceSide, ctx: DeltaContext): Promise<Delta> {
  const paths = new Set([...Object.keys(older.manifest), ...Object.keys(newer.manifest)]);
  const summary: DeltaSummary = {
    changed: 0,
    kept: { compiled: 0, included: 0, header: 0, assembly: 0 },
    ignored: { documentation: 0, tools: 0, 'other-arch': 0, 'build-file': 0, 'not-compiled': 0, 'not-a-regular-file': 0, other: 0 },
    buildFiles: [],
  };
  const kept = new Map<string, KeptKind>();
  for (const file of [...paths].sort()) {
    const [a, b] = [older.manifest[file], newer.manifest[file]];
    if (a === b) continue;
    summary.changed++;
    const regular = (a === undefined || isFile(a)) && (b === undefined || isFile(b));
    let verdict = classify(file, regular, ctx);
    if ('ignored' in verdict && verdict.ignored === 'not-compiled' && (await ctx.isIncluded(file))) verdict = { kept: 'included' };
    if ('kept' in verdict) {
      kept.set(file, verdict.kept);
      summary.kept[verdict.kept]++;
    } else {
      summary.ignored[verdict.ignored]++;
      if (verdict.ignored === 'build-file') summary.buildFiles.push(file);
    }
  }
  const wanted = new Set(kept.keys());
  const [before, after] = await Promise.all([older.read(wanted), newer.read(wanted)]);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-delta-'));
  try {
    const files: DeltaFile[] = [];
    for (const [file, kind] of kept) {
      const [a, b] = [before.get(file), after.get(file)];
      const change: Change = a === undefined ? 'added' : b === undefined ? 'removed' : 'modified';
      files.push({ path: file, kind, change, diff: await unifiedDiff(file, a, b, scratch) });
    }
    return { from: older.version, to: newer.version, files, summary };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** The delta as one patch of what a splice can be built from (`spliced build` takes it): all but the assembly. */
export const deltaPatch = (delta: Delta): string =>
  delta.files
    .filter((f) => f.kind !== 'assembly')
    .map((f) => f.diff)
    .join('');
