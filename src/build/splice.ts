// The seam between the tree/compile half of the builder and the differ/module half: compiled pre/post pairs in,
// a livepatch module out. The differ, safety analysis, run-pre check and module generation (src/build/diff*.ts,
// klp*.ts, module*.ts, runpre*.ts) plug in here; until they do, a build stops with a plain "not implemented".

import { SplicedError } from '../errors';
import type { CompileResult } from './compile';
import type { ParsedPatch } from './patchfile';
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
}

/** Differ → safety analysis → run-pre check → module generation. */
export async function generateSplice(input: SpliceInput): Promise<SpliceOutput> {
  throw new SplicedError('BuildFailed', 'module generation is not implemented yet: the pre/post objects were compiled, no module was made', {
    pairs: input.compiled.pairs.map((p) => p.object),
  });
}
