// The feed's cache of linux-source debs: one per version, fetched through apt (`apt-get download`, sha256 checked
// against apt's index by the builder's download()), with the manifest of its tree (a digest per file, so a delta
// needs one pass over each tarball instead of two). Old versions are pruned to a size budget; the versions in use
// are never pruned. Layout in docs/feed.md.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { download, writeMarker } from '../../build/tree/tree';
import { withLock } from '../../build/tree/lock';
import { writingInto } from '../../build/tree/root-writes';
import { compareVersions } from './debian-version';
import { debTree, Manifest, manifestOf } from './source-deb';

export function feedCacheRoot(): string {
  return path.resolve(process.env.SPLICED_FEED_CACHE_DIR ?? '/var/cache/spliced/feed');
}

/** Five source debs (≈ 140 MB each) plus their manifests (≈ 8 MB each). */
const DEFAULT_BUDGET_BYTES = 800e6;

export function cacheBudgetBytes(): number {
  const budget = Number(process.env.SPLICED_FEED_CACHE_BYTES);
  return Number.isFinite(budget) && budget > 0 ? budget : DEFAULT_BUDGET_BYTES;
}

const LOCK_TIMEOUT_MS = 30 * 60_000;

export interface CachedSource {
  version: string;
  deb: string;
  manifest: Manifest;
}

const versionDir = (root: string, version: string) => path.join(root, 'sources', version);

/** The source deb of `version` and its manifest, fetched and read on first use. */
export async function cachedSource(pkg: string, series: string, version: string, root = feedCacheRoot()): Promise<CachedSource> {
  const dir = versionDir(root, version);
  return writingInto(root, () => fetchSource(pkg, series, version, dir));
}

async function fetchSource(pkg: string, series: string, version: string, dir: string): Promise<CachedSource> {
  await fs.mkdir(dir, { recursive: true });
  return withLock(path.join(dir, 'lock'), `${pkg} ${version} in the feed cache`, LOCK_TIMEOUT_MS, async () => {
    const deb = await download(dir, pkg, version);
    const manifestFile = path.join(dir, 'manifest.json');
    const cached = await fs
      .readFile(manifestFile, 'utf8')
      .then((text) => JSON.parse(text) as { deb: string; files: Manifest })
      .catch(() => undefined);
    if (cached?.deb === path.basename(deb)) return { version, deb, manifest: cached.files };
    const manifest = await manifestOf(debTree(deb, series));
    await writeMarker(manifestFile, { deb: path.basename(deb), files: manifest });
    return { version, deb, manifest };
  });
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? await sizeOf(full) : (await fs.stat(full)).size;
  }
  return total;
}

/**
 * Removes the oldest cached versions until the cache fits its budget; `keep` (the running and target versions)
 * stay whatever their size. Returns the versions removed.
 */
export async function pruneSources(keep: readonly string[], budget = cacheBudgetBytes(), root = feedCacheRoot()): Promise<string[]> {
  const sources = path.join(root, 'sources');
  const versions = (await fs.readdir(sources).catch(() => [] as string[])).sort(compareVersions);
  const sizes = new Map<string, number>();
  for (const v of versions) sizes.set(v, await sizeOf(path.join(sources, v)));
  let total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const removed: string[] = [];
  for (const v of versions) {
    if (total <= budget) break;
    if (keep.includes(v)) continue;
    await writingInto(root, () =>
      withLock(path.join(sources, v, 'lock'), `${v} in the feed cache`, LOCK_TIMEOUT_MS, () =>
        fs.rm(path.join(sources, v), { recursive: true, force: true }),
      ),
    );
    total -= sizes.get(v)!;
    removed.push(v);
  }
  return removed;
}
