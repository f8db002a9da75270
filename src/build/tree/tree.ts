// One prepared kernel source tree per Debian kernel build, cached, exactly as Debian built that kernel:
// linux-source-6.1 at the image's exact version, the real .config and Module.symvers from the headers package,
// `olddefconfig` + `modules_prepare` with gcc-12 and KERNELRELEASE set (see docs/build.md).
// A tree is ready only once its marker file exists; anything else found in the cache is a half-prepared
// tree and is rebuilt from scratch.

import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { KERNEL_PACKAGE_VERSION_RE } from '../../engine/version';
import type { KernelIdentity } from '../../kernel/types';
import { withLock } from './lock';
import { writingInto } from './root-writes';
import { make } from './kmake';
import { objectIndex } from './objects';
import { INCLUDE_GRAPH, includeGraph } from '../compile/include-graph';
import { run, RunResult, tail } from '../process';

/** Which Debian kernel build a tree is for. */
export interface DebianBuild {
  /** `uname -r`, e.g. "6.1.0-56-amd64". */
  release: string;
  /** Debian package version of that build, e.g. "6.1.192-2". */
  debianVersion: string;
  /**
   * The linux-source-6.1 version to compile from when it is not the build's own (`spliced build --source-version`):
   * the security archive keeps only the newest source, and run-pre proves the code still matches the kernel.
   */
  sourceVersion?: string;
}

/** A prepared tree: compile single objects in `sourceDir` with `makeArgs`. */
export interface Tree extends DebianBuild {
  /** The linux-source-6.1 version the tree holds: the build's own, or the override. */
  sourceVersion: string;
  /** The cache entry: everything for this build lives below it. */
  cacheDir: string;
  /** The kernel source root (holds .config, Makefile, include/generated). */
  sourceDir: string;
  /** Arguments every make in this tree gets, so pre and post objects are built identically. */
  makeArgs: string[];
  /** Lock file serialising preparation and compiles in this tree. */
  lockPath: string;
  /** vermagic of modules built in this tree. */
  vermagic: string;
  /** How long the preparation took when it happened (0 when the tree came from the cache). */
  preparedInMs: number;
}

const MARKER = 'tree.json';
const COMPILER = 'gcc-12';
export const SECTION_CFLAGS = '-ffunction-sections -fdata-sections';
const LOCK_TIMEOUT_MS = 30 * 60_000;

export function cacheRoot(): string {
  return path.resolve(process.env.SPLICED_CACHE_DIR ?? '/var/cache/spliced/trees');
}

export function buildJobs(): number {
  const jobs = Number.parseInt(process.env.SPLICED_BUILD_JOBS ?? '2', 10);
  return Number.isInteger(jobs) && jobs > 0 ? jobs : 2;
}

/** The linux-source version a tree of this build is compiled from. */
export function sourceVersionOf(build: DebianBuild): string {
  return build.sourceVersion ?? build.debianVersion;
}

/** `<release>-<version>`, plus `+source-<version>` when the source is not the build's own (another tree entirely). */
export function treeCacheDir(build: DebianBuild): string {
  const source = sourceVersionOf(build);
  const entry = `${build.release}-${build.debianVersion}${source === build.debianVersion ? '' : `+source-${source}`}`;
  return path.join(cacheRoot(), entry);
}

/** The make arguments of every command in a tree of this build. */
export function makeArgsFor(build: DebianBuild): string[] {
  return [`-j${buildJobs()}`, `CC=${COMPILER}`, `KERNELRELEASE=${build.release}`, `KCFLAGS=${SECTION_CFLAGS}`];
}

/** The Debian version named in a /proc/version line ("... Debian 6.1.192-2 (2026-11-16)"). */
export function debianVersionFromProcVersion(procVersion: string): string | undefined {
  return /\bDebian (\d[\w.+~-]*) \(/.exec(procVersion)?.[1];
}

const RELEASE_RE = /^[0-9][A-Za-z0-9.+_-]*$/;

function checkBuild(build: { release: string; sourceVersion?: string }): void {
  if (!RELEASE_RE.test(build.release)) {
    throw new SplicedError('InvalidArgument', `"${build.release}" is not a kernel release name (like 6.1.0-56-amd64)`);
  }
  if (build.sourceVersion !== undefined && !KERNEL_PACKAGE_VERSION_RE.test(build.sourceVersion)) {
    throw new SplicedError('InvalidArgument', `"${build.sourceVersion}" is not a Debian package version (like 6.1.192-2)`);
  }
}

async function aptField(pkg: string, field: string): Promise<string[]> {
  const res = await run('apt-cache', ['show', pkg]);
  if (res.code !== 0) return [];
  const re = new RegExp(`^${field}: (.+)$`, 'gm');
  return [...res.stdout.matchAll(re)].map((m) => m[1].trim());
}

async function installedVersion(pkg: string): Promise<string | undefined> {
  const res = await run('dpkg-query', ['-W', '-f=${Status}\t${Version}', pkg]);
  const [status, version] = res.stdout.split('\t');
  return res.code === 0 && status?.endsWith(' installed') ? version : undefined;
}

/**
 * The build a splice targets: the running kernel (its /proc/version names the Debian version), or a release given
 * on the command line, whose Debian version comes from apt (the headers package of that release; if apt knows
 * several versions, the installed one).
 */
export async function resolveDebianBuild(target: { release: string; procVersion?: string; sourceVersion?: string }): Promise<DebianBuild> {
  checkBuild(target);
  const withSource = (build: DebianBuild): DebianBuild =>
    target.sourceVersion === undefined || target.sourceVersion === build.debianVersion ? build : { ...build, sourceVersion: target.sourceVersion };
  if (target.procVersion !== undefined) {
    const debianVersion = debianVersionFromProcVersion(target.procVersion);
    if (!debianVersion) {
      throw new SplicedError('NotApplicable', `kernel ${target.release} is not a Debian kernel build: ${target.procVersion}`, {
        release: target.release,
      });
    }
    return withSource({ release: target.release, debianVersion });
  }
  const headers = `linux-headers-${target.release}`;
  const versions = [...new Set(await aptField(headers, 'Version'))];
  const installed = await installedVersion(headers);
  const debianVersion = versions.length === 1 ? versions[0] : installed;
  if (!debianVersion) {
    throw new SplicedError(
      'NotApplicable',
      versions.length === 0
        ? `apt knows no package ${headers}: no Debian kernel build ${target.release} to build for`
        : `apt knows several versions of ${headers} (${versions.join(', ')}); install the one of your kernel`,
      { release: target.release, versions },
    );
  }
  return withSource({ release: target.release, debianVersion });
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `apt-get download pkg=version` into `dir`, reusing a previous download whose sha256 matches apt's index. */
export async function download(dir: string, pkg: string, version: string): Promise<string> {
  const [expected] = await aptField(`${pkg}=${version}`, 'SHA256');
  const [filename] = await aptField(`${pkg}=${version}`, 'Filename');
  if (!expected || !filename) {
    throw new SplicedError('BuildFailed', `apt has no package ${pkg} version ${version} (run apt-get update?)`, {
      package: pkg,
      version,
    });
  }
  const file = path.join(dir, path.basename(filename));
  if ((await sha256File(file).catch(() => '')) === expected) return file;
  await fs.mkdir(dir, { recursive: true });
  const res = await run('apt-get', ['download', `${pkg}=${version}`], { cwd: dir });
  if (res.code !== 0 || (await sha256File(file).catch(() => '')) !== expected) {
    throw new SplicedError('BuildFailed', `could not download ${pkg} ${version}:\n${tail(res.stderr)}`, {
      package: pkg,
      version,
    });
  }
  return file;
}

function mustSucceed(what: string, res: RunResult): void {
  if (res.code !== 0) throw new SplicedError('BuildFailed', `${what} failed:\n${tail(res.stderr || res.stdout)}`);
}

/** Unpacks the source tarball of the linux-source deb into `dest` (streamed: no intermediate 140 MB file). */
async function unpackSource(deb: string, dest: string): Promise<void> {
  const list = await run('dpkg-deb', ['-c', deb]);
  const tarball = /\.\/usr\/src\/linux-source-[\d.]+\.tar\.xz/.exec(list.stdout)?.[0];
  if (!tarball) throw new SplicedError('BuildFailed', `${deb} holds no linux-source tarball`);
  await fs.mkdir(dest, { recursive: true });
  // tar strips the top directory (linux-source-6.1/) so the tree lands directly in dest.
  const script = 'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" | tar -xJ --strip-components=1 -C "$3"';
  mustSucceed('unpacking the kernel source', await run('bash', ['-o', 'pipefail', '-c', script, 'bash', deb, tarball, dest]));
}

/** Extracts the headers deb of the release (it holds the real build .config and Module.symvers). */
async function unpackHeaders(deb: string, dest: string, release: string): Promise<string> {
  await fs.rm(dest, { recursive: true, force: true });
  mustSucceed('unpacking the kernel headers', await run('dpkg-deb', ['-x', deb, dest]));
  return path.join(dest, 'usr/src', `linux-headers-${release}`);
}

interface Marker extends DebianBuild {
  sourceVersion: string;
  vermagic: string;
  makeArgs: string[];
  preparedAt: string;
  preparedInMs: number;
}

/** The marker of a ready tree for this build: same build, same make arguments (-j aside), tree still there. */
async function readMarker(cacheDir: string, build: DebianBuild): Promise<Marker | undefined> {
  try {
    const marker = JSON.parse(await fs.readFile(path.join(cacheDir, MARKER), 'utf8')) as Marker;
    // Markers written before source overrides existed name no source: it was the build's own.
    marker.sourceVersion ??= marker.debianVersion;
    const same =
      marker.release === build.release && marker.debianVersion === build.debianVersion && marker.sourceVersion === sourceVersionOf(build);
    const sameArgs = JSON.stringify(marker.makeArgs.slice(1)) === JSON.stringify(makeArgsFor(build).slice(1));
    await fs.access(path.join(cacheDir, 'linux/include/generated/autoconf.h'));
    return same && sameArgs ? marker : undefined;
  } catch {
    return undefined;
  }
}

function treeFrom(cacheDir: string, marker: Marker, preparedInMs: number): Tree {
  return {
    release: marker.release,
    debianVersion: marker.debianVersion,
    sourceVersion: marker.sourceVersion,
    cacheDir,
    sourceDir: path.join(cacheDir, 'linux'),
    makeArgs: makeArgsFor(marker),
    lockPath: path.join(cacheDir, 'lock'),
    vermagic: marker.vermagic,
    preparedInMs,
  };
}

/** The vermagic kbuild will stamp on modules of this tree, from its .config as include/linux/vermagic.h builds it. */
async function readVermagic(sourceDir: string, release: string): Promise<string> {
  const config = await fs.readFile(path.join(sourceDir, '.config'), 'utf8');
  const on = (opt: string) => new RegExp(`^CONFIG_${opt}=y$`, 'm').test(config);
  // Mirrors include/linux/vermagic.h for x86-64 (no MODULE_ARCH_VERMAGIC suffix there).
  const words = [
    release,
    on('SMP') && 'SMP',
    on('PREEMPT_BUILD') || on('PREEMPT') ? 'preempt' : on('PREEMPT_RT') && 'preempt_rt',
    on('MODULE_UNLOAD') && 'mod_unload',
    on('MODVERSIONS') && 'modversions',
  ];
  return words.filter(Boolean).join(' ');
}

/** A prepared tree takes ≈ 1.7 GB (measured with du, debs included); refuse up front rather than die half-way. */
const PREPARE_DISK_BYTES = 2.5e9;

async function checkDiskSpace(cacheDir: string): Promise<void> {
  const stat = await fs.statfs(cacheDir);
  const free = stat.bavail * stat.bsize;
  if (free < PREPARE_DISK_BYTES) {
    throw new SplicedError(
      'BuildFailed',
      `preparing a kernel tree needs ${(PREPARE_DISK_BYTES / 1e9).toFixed(1)} GB free in ${cacheDir}; only ${(free / 1e9).toFixed(1)} GB are`,
      { cacheDir, freeBytes: free },
    );
  }
}

/**
 * The host's gcc-12 must be the very compiler Debian built the kernel with (CONFIG_CC_VERSION_TEXT in its .config):
 * another one gives objects that differ from the running kernel's, and would also make olddefconfig change the
 * configuration.
 */
async function checkCompiler(configText: string, release: string): Promise<void> {
  const wanted = /^CONFIG_CC_VERSION_TEXT="(.*)"$/m.exec(configText)?.[1];
  const res = await run(COMPILER, ['--version']).catch(() => undefined);
  const have = res?.code === 0 ? res.stdout.split('\n')[0].trim() : `no ${COMPILER}`;
  if (wanted !== undefined && have !== wanted) {
    throw new SplicedError(
      'BuildFailed',
      `${release} was built with "${wanted}", but this host has "${have}"; objects compiled here would not match the kernel`,
      { wanted, have },
    );
  }
}

/** Checks that the tree's compiler is still the host's (gcc-12 may have been upgraded since it was prepared). */
export async function checkTreeCompiler(tree: Tree): Promise<void> {
  await checkCompiler(await fs.readFile(path.join(tree.sourceDir, '.config'), 'utf8'), tree.release);
}

/** Called with a short description as each step of a long preparation starts. */
export type StepListener = (step: string) => void;

async function prepare(build: DebianBuild, cacheDir: string, step: StepListener): Promise<Marker> {
  const started = Date.now();
  const sourceDir = path.join(cacheDir, 'linux');
  const debs = path.join(cacheDir, 'debs');
  // Whatever is here without a valid marker is a half-prepared tree (crash, full disk): start again. The old
  // marker goes first, so a crash from here on never leaves a marker next to an unfinished tree.
  await fs.rm(path.join(cacheDir, MARKER), { force: true });
  await fs.rm(sourceDir, { recursive: true, force: true });
  await fs.rm(path.join(cacheDir, 'journal'), { recursive: true, force: true });
  await fs.rm(path.join(cacheDir, 'pre-objects'), { recursive: true, force: true });
  await fs.rm(path.join(cacheDir, 'objects.json'), { force: true });
  await fs.rm(path.join(cacheDir, INCLUDE_GRAPH), { force: true });
  await checkDiskSpace(cacheDir);

  const sourceVersion = sourceVersionOf(build);
  step(`downloading linux-source-6.1 ${sourceVersion} and the headers of ${build.release} (${build.debianVersion})`);
  const sourceDeb = await download(debs, 'linux-source-6.1', sourceVersion);
  const headersDeb = await download(debs, `linux-headers-${build.release}`, build.debianVersion);
  const headersDir = await unpackHeaders(headersDeb, path.join(cacheDir, 'headers'), build.release);
  await checkCompiler(await fs.readFile(path.join(headersDir, '.config'), 'utf8'), build.release);
  step('unpacking the kernel source');
  await unpackSource(sourceDeb, sourceDir);
  await fs.copyFile(path.join(headersDir, '.config'), path.join(sourceDir, '.config'));
  await fs.copyFile(path.join(headersDir, 'Module.symvers'), path.join(sourceDir, 'Module.symvers'));

  const makeArgs = makeArgsFor(build);
  const inTree = { sourceDir, makeArgs };
  step('configuring the tree like Debian did (olddefconfig, modules_prepare)');
  mustSucceed('make olddefconfig', await make(inTree, ['olddefconfig']));
  const expected = await fs.readFile(path.join(headersDir, '.config'), 'utf8');
  const actual = await fs.readFile(path.join(sourceDir, '.config'), 'utf8');
  if (configLines(expected) !== configLines(actual)) {
    throw new SplicedError('BuildFailed', `linux-source-6.1 ${sourceVersion} does not accept the .config of ${build.release} (${build.debianVersion}) unchanged`, {
      sourceVersion,
    });
  }
  mustSucceed('make modules_prepare', await make(inTree, ['modules_prepare']));
  step("listing the kernel's objects (make -n)");
  await objectIndex({ cacheDir, sourceDir, makeArgs });
  step("reading the tree's #include lines");
  await includeGraph({ cacheDir, sourceDir });

  const marker: Marker = {
    ...build,
    sourceVersion,
    vermagic: await readVermagic(sourceDir, build.release),
    makeArgs,
    preparedAt: new Date().toISOString(),
    preparedInMs: Date.now() - started,
  };
  // Written last, atomically: its presence is what makes the tree "ready".
  await writeMarker(path.join(cacheDir, MARKER), marker);
  return marker;
}

/** Writes a cache entry's marker atomically: its presence is what says the entry is ready. */
export async function writeMarker(file: string, marker: object): Promise<void> {
  await fs.writeFile(`${file}.tmp`, JSON.stringify(marker, null, 2) + '\n');
  await fs.rename(`${file}.tmp`, file);
}

/** The settings of a .config, without comments (olddefconfig may rewrite the header comment). */
function configLines(config: string): string {
  return config
    .split('\n')
    .filter((line) => line.startsWith('CONFIG_'))
    .join('\n');
}

/** How messages name a tree: release, version, and the source when it is not the build's own. */
export function treeLabel(tree: DebianBuild & { sourceVersion: string }): string {
  const source = tree.sourceVersion === tree.debianVersion ? '' : `, compiled from linux-source-6.1 ${tree.sourceVersion}`;
  return `${tree.release} (${tree.debianVersion}${source})`;
}

/**
 * Runs `body` holding the tree's lock: whatever patches the tree in place (compile.ts) or reads its sources and
 * headers while another build might be patching them (the module link) goes through here.
 */
export function withTreeLock<T>(tree: Tree, body: () => Promise<T>): Promise<T> {
  return writingInto(tree.cacheDir, () => withLock(tree.lockPath, treeLabel(tree), LOCK_TIMEOUT_MS, body));
}

/** Whether a tree for this build is prepared already (no side effects). */
export async function cachedTree(build: DebianBuild): Promise<Tree | undefined> {
  const cacheDir = treeCacheDir(build);
  const marker = await readMarker(cacheDir, build);
  return marker && treeFrom(cacheDir, marker, 0);
}

/**
 * The prepared tree of this build: from the cache, or prepared now (≈ 1 min and 1.7 GB with a warm apt).
 * Concurrent callers wait for one preparation; a half-prepared tree left by a crash is rebuilt.
 */
export async function prepareTree(build: DebianBuild, step: StepListener = () => undefined): Promise<Tree> {
  checkBuild(build);
  const cached = await cachedTree(build);
  if (cached) return cached;
  const cacheDir = treeCacheDir(build);
  await fs.mkdir(cacheDir, { recursive: true });
  const label = treeLabel({ ...build, sourceVersion: sourceVersionOf(build) });
  return writingInto(cacheDir, () =>
    withLock(path.join(cacheDir, 'lock'), label, LOCK_TIMEOUT_MS, async () => {
      // Another process may have finished preparing while we waited for the lock.
      const ready = await readMarker(cacheDir, build);
      if (ready) return treeFrom(cacheDir, ready, 0);
      const marker = await prepare(build, cacheDir, step);
      return treeFrom(cacheDir, marker, marker.preparedInMs);
    }),
  );
}

/** A kernel identity (see src/kernel) as a build target. */
export function buildOfIdentity(identity: Pick<KernelIdentity, 'release' | 'version'>): Promise<DebianBuild> {
  return resolveDebianBuild({ release: identity.release, procVersion: identity.version });
}

/** The running kernel as a build target, from uname and /proc/version. */
export async function runningDebianBuild(sourceVersion?: string): Promise<DebianBuild> {
  const procVersion = (await fs.readFile('/proc/version', 'utf8')).trim();
  return resolveDebianBuild({ release: os.release(), procVersion, sourceVersion });
}
