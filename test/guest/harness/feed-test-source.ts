// A linux-source version of the test's own, newer than Debian's last: Debian's real deb of a version plus changes
// the test chooses (fixture patches, each with a changelog line naming its file and a test CVE), so the feed meets a
// delta holding fixes it can splice and fixes it cannot. Made once per input (cached by content hash under the test
// cache) with the feed cache's entry for it: the deb, its manifest and the plan for the guest's kernel, which the
// guest is seeded with as it is with Debian's versions (no 1.4 GB tarball is read under TCG).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeMarker } from '../../../src/build/tree/tree';
import { parseRelease, sourcePackage } from '../../../src/sources/feed/kernel-release';
import { planBetween } from '../../../src/sources/feed/plan';
import { cachedSource } from '../../../src/sources/feed/source-cache';
import { debTree, Manifest, manifestOf } from '../../../src/sources/feed/source-deb';
import { repoRoot, testCacheRoot } from './image';

export interface TestSourceRequest {
  /** Debian's deb the version is made from. */
  base: string;
  version: string;
  /** The changelog entry of `version`, whole (header, bullet lines, trailer). */
  entry: string;
  /** Fixture patches (paths relative to the repository), applied to the tree in this order. */
  patches: string[];
  /** The kernel the plan is for, running its own source. */
  running: { release: string; sourceVersion: string };
}

const SCRIPT = 'test/guest/harness/feed-test-source.sh';

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The feed cache entry `sources/<version>/` of the test version (deb, manifest.json, the plan), made if missing. */
export async function testSourceVersion(request: TestSourceRequest): Promise<string> {
  const kernel = parseRelease(request.running.release);
  const key = createHash('sha256')
    .update(await sha256Of(request.base))
    .update(JSON.stringify({ ...request, base: undefined }))
    .update(readFileSync(join(repoRoot(), SCRIPT)));
  for (const patch of request.patches) key.update(readFileSync(join(repoRoot(), patch)));
  const cacheDir = join(testCacheRoot(), 'feed-test-source', key.digest('hex').slice(0, 16));
  const entryDir = join(cacheDir, 'sources', request.version);
  const pkg = sourcePackage(kernel);
  const debName = `${pkg}_${request.version}_all.deb`;
  if (!existsSync(cacheDir)) await makeDeb(request, kernel.series, cacheDir, debName);
  // The plan is made again when planBetween's is not valid any more (another format), like the daemon's.
  const older = await cachedSource(pkg, kernel.series, request.running.sourceVersion);
  const { files } = JSON.parse(readFileSync(join(entryDir, 'manifest.json'), 'utf8')) as { files: Manifest };
  await planBetween({ ...kernel, sourceVersion: request.running.sourceVersion }, older, { version: request.version, deb: join(entryDir, debName), manifest: files });
  return entryDir;
}

/** The deb and its manifest, made aside and renamed into place whole. */
async function makeDeb(request: TestSourceRequest, series: string, cacheDir: string, debName: string): Promise<void> {
  const making = `${cacheDir}.making`;
  rmSync(making, { recursive: true, force: true });
  const madeEntry = join(making, 'sources', request.version);
  mkdirSync(madeEntry, { recursive: true });
  const deb = join(madeEntry, debName);
  const work = join(making, 'work');
  mkdirSync(work);
  execFileSync(
    join(repoRoot(), SCRIPT),
    [request.base, deb, work, series, request.version, request.entry, ...request.patches.map((p) => join(repoRoot(), p))],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  rmSync(work, { recursive: true, force: true });
  await writeMarker(join(madeEntry, 'manifest.json'), { deb: debName, files: await manifestOf(debTree(deb, series)) });
  renameSync(making, cacheDir);
}
