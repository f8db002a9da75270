// A local apt repository for the feed's guest checks, made the way an archive is: the real linux-source debs of the
// running and the target version (from the host's feed cache, fetched there through apt), `apt-ftparchive` for
// Packages and Release, an InRelease signed with a throwaway gpg key the guest is told to trust. And the host's feed
// cache entries of those two versions (debs, manifests, the plan for the guest's kernel), so the guest reuses what
// the host computed instead of decompressing 1.4 GB tarballs under TCG; it still checks the debs against the
// hashes of the signed index apt fetched. Files are hard links where the file system allows (no copies of 280 MB).

import { execFileSync } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { planFeed } from '../../../src/sources/feed/plan';

function linkOrCopy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/**
 * `workDir/feed-repo/` (a flat repository: debs, Packages, Release, InRelease, spliced-test.gpg) and
 * `workDir/feed-cache/sources/<version>/` for the given running kernel and target. With `next` (a feed cache entry
 * `sources/<version>/` of a version the test made: feed-test-source.ts), also `workDir/feed-repo-next/`, the same
 * repository with that version added and signed by the same key, and its entry in `workDir/feed-cache-next/`.
 * Returns the plan's delta paths.
 */
export async function stageFeedRepo(
  workDir: string,
  running: { release: string; sourceVersion: string },
  target: string,
  next?: string,
): Promise<string[]> {
  const plan = await planFeed({ running, targetVersion: target });
  if (!plan.target) throw new Error(`the host's apt offers no ${target}`);
  const cacheRoot = process.env.SPLICED_FEED_CACHE_DIR ?? '/var/cache/spliced/feed';
  const repos = [join(workDir, 'feed-repo'), ...(next ? [join(workDir, 'feed-repo-next')] : [])];
  const seed = (dir: string, into: string, repoDirs: string[]) => {
    for (const name of readdirSync(dir).filter((n) => n !== 'lock')) {
      linkOrCopy(join(dir, name), join(workDir, into, 'sources', basename(dir), name));
      if (name.endsWith('.deb')) for (const repo of repoDirs) linkOrCopy(join(dir, name), join(repo, name));
    }
  };
  for (const version of [running.sourceVersion, target]) seed(join(cacheRoot, 'sources', version), 'feed-cache', repos);
  if (next) seed(next, 'feed-cache-next', repos.slice(1));
  const gnupg = mkdtempSync(join(tmpdir(), 'spliced-feed-gpg-'));
  try {
    const gpg = (cwd: string, ...args: string[]) =>
      execFileSync('gpg', ['--homedir', gnupg, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    gpg(gnupg, '--quick-gen-key', 'spliced feed test <test@spliced.invalid>', 'ed25519', 'sign', '1d');
    for (const repo of repos) {
      writeFileSync(join(repo, 'Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: repo }));
      const release = execFileSync('apt-ftparchive', ['-o', 'APT::FTPArchive::Release::Suite=spliced-test', 'release', '.'], { cwd: repo });
      writeFileSync(join(repo, 'Release'), release);
      rmSync(join(repo, 'InRelease'), { force: true });
      gpg(repo, '--clearsign', '--output', 'InRelease', 'Release');
      writeFileSync(join(repo, 'spliced-test.gpg'), gpg(repo, '--export'));
    }
  } finally {
    rmSync(gnupg, { recursive: true, force: true });
  }
  return plan.target.delta.files.map((f) => f.path);
}
