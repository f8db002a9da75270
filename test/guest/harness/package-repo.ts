// The Debian package for the guest: spliced's .debs built by packaging/build-deb (cached by a hash of what goes into
// them), and a local apt repository holding them plus exactly the Debian .debs the guest image lacks for them.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ensureImage, repoRoot, testCacheRoot } from './image';

export interface PackageDebs {
  /** package.json's version: what build-deb makes by default. */
  version: string;
  deb: string;
  /**
   * The same package with a newer version (for the upgrade check): the .deb repacked with its Version bumped, with
   * gzip -1 (only the test installs it; xz took 30 s at host load 10).
   */
  upgradeVersion: string;
  upgradeDeb: string;
  /** lintian's output of the build. */
  lintian: string;
}

/** Everything build-deb reads from the checkout. */
const PACKAGE_INPUTS = ['packaging', 'units', 'dbus', 'docs', 'src', 'package.json', 'package-lock.json', 'patches', 'tsconfig.json'];

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((entry) => filesUnder(join(path, entry)));
}

function inputsKey(root: string): string {
  const hash = createHash('sha256');
  for (const file of PACKAGE_INPUTS.flatMap((input) => filesUnder(join(root, input)))) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 24);
}

/** Builds spliced's .deb with packaging/build-deb unless one built from the same inputs is cached. */
export function packageDebs(): PackageDebs {
  const root = repoRoot();
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  const upgradeVersion = `${version}+1`;
  const dir = join(testCacheRoot(), 'package', inputsKey(root));
  const debs: PackageDebs = {
    version,
    deb: join(dir, `spliced_${version}_amd64.deb`),
    upgradeVersion,
    upgradeDeb: join(dir, `spliced_${upgradeVersion}_amd64.deb`),
    lintian: join(dir, 'lintian.txt'),
  };
  if (existsSync(dir)) return debs;
  execFileSync(join(root, 'packaging/build-deb'), ['--lint-once'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const out = join(root, 'dist-deb/bookworm');
  copyFileSync(join(out, `spliced_${version}_amd64.deb`), join(tmp, `spliced_${version}_amd64.deb`));
  copyFileSync(join(out, 'lintian.txt'), join(tmp, 'lintian.txt'));
  const unpacked = join(tmp, 'unpacked');
  execFileSync('dpkg-deb', ['-R', join(tmp, `spliced_${version}_amd64.deb`), unpacked]);
  const control = join(unpacked, 'DEBIAN/control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${upgradeVersion}`));
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '-b', unpacked, join(tmp, `spliced_${upgradeVersion}_amd64.deb`)], { stdio: 'ignore' });
  rmSync(unpacked, { recursive: true });
  renameSync(tmp, dir);
  return debs;
}

/**
 * Fills `repoDir` with `debs`, the Debian .debs apt would fetch to install the first of them and `extra` on the
 * guest image (resolved by the host's apt against the image's own dpkg status, read from its disk with debugfs;
 * downloaded once into the shared download cache, apt checking each against the archive's hashes), and a Packages
 * index: a `deb [trusted=yes] file:` source.
 */
export async function localAptRepo(repoDir: string, debs: string[], extra: string[]): Promise<string[]> {
  const image = await ensureImage();
  mkdirSync(repoDir, { recursive: true });
  const state = mkdtempSync(join(repoDir, '..', 'apt-state-'));
  writeFileSync(join(state, 'status'), execFileSync('debugfs', ['-R', 'cat /var/lib/dpkg/status', image.rootImage], { stdio: ['ignore', 'pipe', 'ignore'] }));
  const archives = join(testCacheRoot(), 'downloads', 'apt-archives');
  mkdirSync(join(archives, 'partial'), { recursive: true });
  const apt = (...args: string[]) =>
    execFileSync('apt-get', ['-q', '-y', '--no-install-recommends', '-o', `Dir::State::status=${join(state, 'status')}`,
      '-o', `Dir::Cache::archives=${archives}`, 'install', ...args, debs[0], ...extra], { encoding: 'utf8' });
  // apt's plan ("Inst PACKAGE (VERSION … [ARCH])"), as file names of the archive cache (an epoch's ':' is '%3a').
  const needed = [...apt('--simulate').matchAll(/^Inst (\S+) \((\S+) .*\[(\S+)\]\)( \[\])?$/gm)]
    .filter(([, pkg]) => pkg !== 'spliced')
    .map(([, pkg, version, arch]) => `${pkg}_${version.replace(':', '%3a')}_${arch}.deb`);
  apt('--download-only');
  for (const file of needed) copyFileSync(join(archives, file), join(repoDir, file));
  for (const deb of debs) copyFileSync(deb, join(repoDir, basename(deb)));
  writeFileSync(join(repoDir, 'Packages'), execFileSync('dpkg-scanpackages', ['--multiversion', '.'], { cwd: repoDir, stdio: ['ignore', 'pipe', 'ignore'] }));
  rmSync(state, { recursive: true });
  return needed;
}

export interface StagedPackage extends PackageDebs {
  /** The Debian .debs the repository holds for the image (file names). */
  debianDebs: string[];
}

/**
 * What a guest needs to install spliced from its package with harness/install-package.sh: `workDir/repo` (the local
 * repository of `localAptRepo`, with the package, its newer build and man-db) and `workDir/versions` ("VERSION
 * UPGRADE_VERSION").
 */
export async function stagePackage(workDir: string): Promise<StagedPackage> {
  const debs = packageDebs();
  const debianDebs = await localAptRepo(join(workDir, 'repo'), [debs.deb, debs.upgradeDeb], ['man-db']);
  writeFileSync(join(workDir, 'versions'), `${debs.version} ${debs.upgradeVersion}\n`);
  return { ...debs, debianDebs };
}
