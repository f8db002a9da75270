// `spliced build [--kernel-release R] [--source-version V] PATCH -o OUT.ko [--json]`: the daemon-less builder for build hosts and CI,
// and `pairs`, which stops after compiling and leaves the pre/post objects in a directory (for the differ's work
// and tests). src/daemon/main.ts dispatches `spliced build …` here through runBuildCommand.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../daemon/config';
import { asSplicedError, SplicedError } from '../errors';
import { BuildProgress, BuildReport, BuildRequest, buildSplice, compilePairs } from './build';
import { chooseSigningKey, type SigningKey } from './module/signing-key';

const USAGE = `usage: spliced build [--kernel-release RELEASE] [--source-version VERSION] [--sign-key KEY --sign-cert CERT] PATCH -o OUT.ko [--json]
       spliced build pairs [--kernel-release RELEASE] [--source-version VERSION] PATCH OUTDIR [--json]`;

/** Exit status of a named failure; 2 is a usage error. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

async function request(patchFile: string, release: string | undefined, sourceVersion: string | undefined): Promise<BuildRequest> {
  const patchText = await fs.readFile(patchFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SplicedError('InvalidArgument', `cannot read the patch ${patchFile}: ${err.code ?? err.message}`, { path: patchFile });
  });
  // On a terminal, say what a long first build (tree preparation, ≈ 1 min) is doing.
  const onProgress = process.stderr.isTTY ? (p: BuildProgress) => process.stderr.write(`spliced build: ${p.message}\n`) : undefined;
  const { maxHeaderUnits } = loadConfig();
  return { patchText, target: release === undefined ? undefined : { release }, sourceVersion, onProgress, maxHeaderUnits };
}

/**
 * The key the module is signed with: --sign-key/--sign-cert when given (unusable: refused), else the daemon's choice
 * (spliced.conf's pair, else DKMS's), so a splice built here is trusted wherever the daemon's would be.
 */
function signingKey(key: string | undefined, certificate: string | undefined): SigningKey | null {
  if ((key === undefined) !== (certificate === undefined)) throw usageError('--sign-key and --sign-cert go together');
  if (key !== undefined && certificate !== undefined) {
    const choice = chooseSigningKey({ key: path.resolve(key), certificate: path.resolve(certificate) });
    if (choice.key === null) throw new SplicedError('InvalidArgument', `cannot sign with ${key}: ${choice.problem}`, { key, certificate });
    return { ...choice.key, source: '--sign-key/--sign-cert' };
  }
  const config = loadConfig();
  const configured =
    config.signingKey !== null && config.signingCertificate !== null ? { key: config.signingKey, certificate: config.signingCertificate } : null;
  const choice = chooseSigningKey(configured);
  if (choice.problem !== null) process.stderr.write(`spliced build: not signing: ${choice.problem}\n`);
  return choice.key;
}

/** The --json report: flat, stable field names. */
function jsonReport(r: BuildReport, signedWith: SigningKey | null): object {
  return {
    ok: true,
    kernel: r.kernel,
    patch: r.patch,
    pairs: r.compiled.pairs,
    headers: r.compiled.headers,
    notBuilt: r.compiled.notBuilt,
    repairedTree: r.compiled.repairedTree,
    reusedPost: r.compiled.reusedPost,
    compileMs: r.compiled.durationMs,
    ...(r.splice && {
      module: r.splice.module,
      name: r.splice.name,
      objects: r.splice.objects,
      buildId: r.splice.buildId,
      targetCode: r.splice.targetCode,
      runPre: r.splice.runPre,
      layoutCheck: r.splice.layoutCheck,
      description: r.splice.header.description ?? null,
      cves: r.splice.header.cves,
      version: r.splice.header.version ?? null,
      signedWith,
    }),
    totalMs: r.totalMs,
  };
}

function usageError(message: string): SplicedError {
  return new SplicedError('InvalidArgument', `${message}\n${USAGE}`, { usage: true });
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
        'source-version': { type: 'string' },
        output: { type: 'string', short: 'o' },
        'sign-key': { type: 'string' },
        'sign-cert': { type: 'string' },
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
    const sourceVersion = values['source-version'];
    let report: BuildReport;
    let signedWith: SigningKey | null = null;
    if (positionals[0] === 'pairs') {
      if (positionals.length !== 3) throw usageError('pairs needs PATCH and OUTDIR');
      const outDir = positionals[2];
      report = await compilePairs(await request(positionals[1], release, sourceVersion), outDir);
      await fs.writeFile(path.join(outDir, 'pairs.json'), JSON.stringify(jsonReport(report, null), null, 2) + '\n');
    } else {
      if (positionals.length !== 1) throw usageError('give exactly one PATCH');
      if (!values.output) throw usageError('give the module to write with -o OUT.ko');
      signedWith = signingKey(values['sign-key'], values['sign-cert']);
      const built = await request(positionals[0], release, sourceVersion);
      report = await buildSplice({ ...built, signWith: signedWith ?? undefined }, values.output);
    }
    process.stdout.write(json ? JSON.stringify(jsonReport(report, signedWith), null, 2) + '\n' : summary(report, signedWith));
    return 0;
  } catch (err) {
    const e = err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? usageError(err.message)
      : asSplicedError(err);
    if (json) process.stdout.write(JSON.stringify({ ok: false, error: { kind: e.kind, message: e.message, details: e.details } }, null, 2) + '\n');
    process.stderr.write(`spliced build: ${e.kind}: ${e.message}\n`);
    return e.details.usage === true ? EXIT_USAGE : EXIT_FAILED;
  }
}

function summary(r: BuildReport, signedWith: SigningKey | null): string {
  const objects = r.compiled.pairs.map((p) => `${p.object}${p.module ? ` [${p.module}]` : ''}`).join(', ');
  const took = `${(r.totalMs / 1000).toFixed(1)} s`;
  const source = r.kernel.sourceVersion === r.kernel.debianVersion ? '' : `, from linux-source-6.1 ${r.kernel.sourceVersion}`;
  const signed = signedWith ? `, signed with ${signedWith.key}` : '';
  return r.splice ? `wrote ${r.splice.module} (${objects}${source}${signed}) in ${took}\n` : `compiled ${objects}${source} in ${took}\n`;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  void runBuildCommand(args[0] === 'build' ? args.slice(1) : args).then((code) => process.exit(code));
}
