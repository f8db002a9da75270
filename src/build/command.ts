// `spliced build [--kernel-release R] PATCH -o OUT.ko [--json]`: the daemon-less builder for build hosts and CI,
// and `pairs`, which stops after compiling and leaves the pre/post objects in a directory (for the differ's work
// and tests). src/daemon/main.ts dispatches `spliced build …` here through runBuildCommand.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { asSplicedError, SplicedError } from '../errors';
import { compileTouched, CompileResult } from './compile';
import { parsePatch, ParsedPatch } from './patchfile';
import { generateSplice, SpliceOutput } from './splice';
import { KernelBuild, prepareTree, resolveKernelBuild, runningKernelBuild, Tree } from './tree';

const USAGE = `usage: spliced build [--kernel-release RELEASE] PATCH -o OUT.ko [--json]
       spliced build pairs [--kernel-release RELEASE] PATCH OUTDIR`;

/** Exit status of a named failure; 2 is a usage error. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface Prepared {
  build: KernelBuild;
  tree: Tree;
  patch: ParsedPatch;
}

async function readPatch(file: string): Promise<ParsedPatch> {
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SplicedError('InvalidArgument', `cannot read the patch ${file}: ${err.code ?? err.message}`, { path: file });
  });
  return parsePatch(text);
}

/** Patch first (cheap, refuses early), then the target build and its tree. */
async function prepare(patchFile: string, release: string | undefined): Promise<Prepared> {
  const patch = await readPatch(patchFile);
  const build = release ? await resolveKernelBuild({ release }) : await runningKernelBuild();
  const tree = await prepareTree(build);
  return { build, tree, patch };
}

function compiledReport(compiled: CompileResult): object {
  return {
    pairs: compiled.pairs,
    headers: compiled.headers,
    notBuilt: compiled.notBuilt,
    repairedTree: compiled.repairedTree,
    compileMs: compiled.durationMs,
  };
}

function report(p: Prepared, compiled: CompileResult, splice: SpliceOutput | undefined, startedAt: number): object {
  return {
    ok: true,
    kernel: { release: p.build.release, debianVersion: p.build.debianVersion, tree: p.tree.sourceDir },
    patch: { sha256: p.patch.sha256, files: p.patch.files },
    ...compiledReport(compiled),
    ...(splice && { module: splice.module, name: splice.name, objects: splice.objects }),
    totalMs: Date.now() - startedAt,
  };
}

async function buildModule(patchFile: string, output: string, release: string | undefined): Promise<object> {
  const startedAt = Date.now();
  const p = await prepare(patchFile, release);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-build-'));
  try {
    const compiled = await compileTouched(p.tree, p.patch, path.join(workDir, 'objects'));
    const splice = await generateSplice({ tree: p.tree, patch: p.patch, compiled, output: path.resolve(output), workDir });
    return report(p, compiled, splice, startedAt);
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

async function buildPairs(patchFile: string, outDir: string, release: string | undefined): Promise<object> {
  const startedAt = Date.now();
  const p = await prepare(patchFile, release);
  const compiled = await compileTouched(p.tree, p.patch, path.resolve(outDir));
  const result = report(p, compiled, undefined, startedAt);
  await fs.writeFile(path.join(outDir, 'pairs.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

function usageError(message: string): SplicedError {
  return new SplicedError('InvalidArgument', `${message}\n${USAGE}`);
}

/** Runs `spliced build …` (argv without "build"); returns the exit status. */
export async function runBuildCommand(argv: string[]): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'kernel-release': { type: 'string' },
        output: { type: 'string', short: 'o' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    json = values.json === true;
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const release = values['kernel-release'];
    let result: object;
    if (positionals[0] === 'pairs') {
      if (positionals.length !== 3) throw usageError('pairs needs PATCH and OUTDIR');
      result = await buildPairs(positionals[1], positionals[2], release);
    } else {
      if (positionals.length !== 1) throw usageError('give exactly one PATCH');
      if (!values.output) throw usageError('give the module to write with -o OUT.ko');
      result = await buildModule(positionals[0], values.output, release);
    }
    process.stdout.write(json ? JSON.stringify(result, null, 2) + '\n' : summary(result));
    return 0;
  } catch (err) {
    const e = err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? usageError(err.message)
      : asSplicedError(err);
    if (json) process.stdout.write(JSON.stringify({ ok: false, error: { kind: e.kind, message: e.message, details: e.details } }, null, 2) + '\n');
    process.stderr.write(`spliced build: ${e.kind}: ${e.message}\n`);
    return e.kind === 'InvalidArgument' && e.message.includes(USAGE) ? EXIT_USAGE : EXIT_FAILED;
  }
}

function summary(result: object): string {
  const r = result as { module?: string; pairs: { object: string; module?: string }[]; totalMs: number };
  const objects = r.pairs.map((p) => `${p.object}${p.module ? ` [${p.module}]` : ''}`).join(', ');
  return r.module
    ? `wrote ${r.module} (${objects}) in ${(r.totalMs / 1000).toFixed(1)} s\n`
    : `compiled ${objects} in ${(r.totalMs / 1000).toFixed(1)} s\n`;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  void runBuildCommand(args[0] === 'build' ? args.slice(1) : args).then((code) => process.exit(code));
}
