// The builder as a library: patch text in, livepatch module out, with progress. `spliced build` (command.ts) and
// the daemon's build jobs both go through here.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CompileLimits, compileTouched, CompileResult } from './compile/compile';
import { DEFAULT_MAX_HEADER_UNITS } from './compile/includers';
import { parsePatch, ParsedPatch, PatchedFile, treeLookup } from './patch/patchfile';
import { signModule } from './module/sign';
import type { SigningKey } from './module/signing-key';
import { generateSplice, RunningKernelFacts, SpliceOutput } from './splice';
import { DebianBuild, prepareTree, resolveDebianBuild, runningDebianBuild, sourceVersionOf, Tree, treeLabel } from './tree/tree';

export type BuildStage = 'vet' | 'tree' | 'compile' | 'splice';

export interface BuildProgress {
  stage: BuildStage;
  message: string;
}

export interface BuildRequest {
  patchText: string;
  /** The kernel build to target; the running kernel when absent. */
  target?: DebianBuild | { release: string };
  /** Compile from linux-source-6.1 at this version instead of the target's own (run-pre checks it still matches). */
  sourceVersion?: string;
  /** Sign the module with this key (src/build/module/sign.ts); unsigned when absent. */
  signWith?: SigningKey;
  /** The running kernel's kallsyms and build id, for a build without the privilege to read them (splice.ts). */
  runningKernel?: RunningKernelFacts;
  /** The most translation units the patch may be compiled into (config max_header_units); the default when absent. */
  maxHeaderUnits?: number;
  onProgress?: (progress: BuildProgress) => void;
}

export interface BuildReport {
  /** The target build, the linux-source version compiled (its own or the override), the tree's source root. */
  kernel: { release: string; debianVersion: string; sourceVersion: string; tree: string };
  /** The patch's hash and files (without their diff text). */
  patch: { sha256: string; files: Omit<PatchedFile, 'diff'>[] };
  compiled: CompileResult;
  /** Absent when only the objects were asked for (compilePairs). */
  splice?: SpliceOutput;
  totalMs: number;
}

interface Prepared {
  tree: Tree;
  limits: CompileLimits;
  patch: ParsedPatch;
  startedAt: number;
  progress: (progress: BuildProgress) => void;
}

function compile(p: Prepared, outDir: string): Promise<CompileResult> {
  return compileTouched(p.tree, p.patch, outDir, (step) => p.progress({ stage: 'compile', message: step }), p.limits);
}

async function targetBuild(request: BuildRequest): Promise<DebianBuild> {
  const { target, sourceVersion } = request;
  if (!target) return runningDebianBuild(sourceVersion);
  if (!('debianVersion' in target)) return resolveDebianBuild({ ...target, sourceVersion });
  return sourceVersion === undefined || sourceVersion === target.debianVersion ? target : { ...target, sourceVersion };
}

/** Vets the patch first (cheap, refuses early), then gets the target's tree and reads the patch against it. */
async function prepare(request: BuildRequest): Promise<Prepared> {
  const startedAt = Date.now();
  const progress = request.onProgress ?? (() => undefined);
  progress({ stage: 'vet', message: 'reading the patch' });
  parsePatch(request.patchText);
  const build = await targetBuild(request);
  progress({ stage: 'tree', message: `kernel tree for ${treeLabel({ ...build, sourceVersion: sourceVersionOf(build) })}` });
  const tree = await prepareTree(build, (step) => progress({ stage: 'tree', message: step }));
  // Read again against the tree's own files: the strip level the kernel layout suggested must hold there.
  const patch = parsePatch(request.patchText, treeLookup(tree.sourceDir));
  return { tree, patch, startedAt, progress, limits: { maxHeaderUnits: request.maxHeaderUnits ?? DEFAULT_MAX_HEADER_UNITS } };
}

function reportOf(p: Prepared, compiled: CompileResult, splice?: SpliceOutput): BuildReport {
  const { release, debianVersion, sourceVersion, sourceDir } = p.tree;
  return {
    kernel: { release, debianVersion, sourceVersion, tree: sourceDir },
    patch: { sha256: p.patch.sha256, files: p.patch.files.map(({ diff: _diff, ...file }) => file) },
    compiled,
    splice,
    totalMs: Date.now() - p.startedAt,
  };
}

/** Compiles the pre/post object pairs of a patch into `outDir` and stops there. */
export async function compilePairs(request: BuildRequest, outDir: string): Promise<BuildReport> {
  const p = await prepare(request);
  return reportOf(p, await compile(p, path.resolve(outDir)));
}

/** Builds the livepatch module of a patch into `output`. Throws SplicedError with the named reason otherwise. */
export async function buildSplice(request: BuildRequest, output: string): Promise<BuildReport> {
  const p = await prepare(request);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-build-'));
  try {
    const compiled = await compile(p, path.join(workDir, 'objects'));
    p.progress({ stage: 'splice', message: 'comparing objects and generating the module' });
    const splice = await generateSplice({
      tree: p.tree,
      patch: p.patch,
      compiled,
      output: path.resolve(output),
      workDir,
      runningKernel: request.runningKernel,
      step: (step) => p.progress({ stage: 'splice', message: step }),
    });
    if (request.signWith) await signModule(p.tree, request.signWith, path.resolve(output));
    return reportOf(p, compiled, splice);
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}
