// Prepared kernel trees for suites that build splices inside the guest. The guest has no network, so the host
// prepares the trees (src/build/tree.ts, through apt) and each run gets a copy of each as an ext4 disk, mounted
// read-write where the builder looks (/var/cache/spliced/trees/<entry>, by kernel-trees.sh). A copy, not a 9p share:
// the builder walks the whole tree on every build, which over 9p under TCG took minutes, and a shared tree changes
// under the guest whenever the host builds in it (docs/testing.md has the measurements).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { compileUnpatched } from '../../../src/build/compile/compile';
import { includeGraph } from '../../../src/build/compile/include-graph';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { objectIndex } from '../../../src/build/tree/objects';
import { withLock } from '../../../src/build/tree/lock';
import type { Tree } from '../../../src/build/tree/tree';
import { repoRoot } from './image';
import type { GuestDisk } from './vm';

const run = promisify(execFile);

/**
 * The uid and gid of spliced-build in the guest. The copies belong to it, as trees the build unit prepared do on a
 * real machine (docs/systemd.md): no handover walks them. kernel-trees.sh creates the user with this id before
 * spliced is installed, whose sysusers.d entry then finds it there.
 */
const BUILD_USER_ID = 990;
/** Room for what builds in the guest write into a tree (objects, journal, a re-prepare of include/generated). */
const HEADROOM_MIB = 768;
const LOCK_TIMEOUT_MS = 30 * 60_000;

async function usedMiB(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '--block-size=1M', dir]);
  return Number.parseInt(stdout, 10);
}

/** An ext4 image holding a copy of the tree's cache entry, made under the tree lock so no host build is half-way. */
function treeDisk(tree: Tree, serial: string): GuestDisk {
  return {
    serial,
    create: (image) =>
      withLock(tree.lockPath, `${tree.release} (${tree.debianVersion})`, LOCK_TIMEOUT_MS, async () => {
        // A tree prepared before the include graph existed gets it here, not in the guest under TCG (≈ 10× slower).
        await includeGraph(tree);
        const sizeMiB = Math.ceil((await usedMiB(tree.cacheDir)) * 1.1) + HEADROOM_MIB;
        // No journal: the disk lives for one run. The copy holds our lock file; the guest takes it over (another boot).
        // In a user namespace where the host's root (owner of the cache) is BUILD_USER_ID, mkfs writes that owner.
        const id = String(BUILD_USER_ID);
        await run('unshare', ['--map-user', id, '--map-group', id, 'mkfs.ext4', '-q', '-F', '-O', '^has_journal',
          '-E', `root_owner=${id}:${id}`, '-d', tree.cacheDir, image, `${sizeMiB}M`]);
      }),
  };
}

/**
 * Disks for runGuest with copies of the given prepared trees (made as the run starts: ≈ 10 s and 1.8 GB each, deleted
 * with the run), and `workDir/kernel-trees.tsv`, which tells kernel-trees.sh in the guest which disk is which entry
 * and the build user's id its files have.
 */
export function kernelTreeDisks(trees: readonly Tree[], workDir: string): GuestDisk[] {
  const disks = trees.map((tree, i) => treeDisk(tree, `spliced-tree${i}`));
  const lines = trees.map((t, i) => `${disks[i].serial}\t${basename(t.cacheDir)}\t${BUILD_USER_ID}\n`);
  writeFileSync(join(workDir, 'kernel-trees.tsv'), lines.join(''));
  return disks;
}

/**
 * Compiles on the host, into the tree's pre-objects cache (which its disk carries), the unpatched objects of the .c
 * files these patches (paths in the repository) change: seconds here against a minute or more each under TCG, where
 * the guest's builds then compile only the patched side. Whichever suite ran first, the guest meets the same cache.
 */
export async function warmPreObjects(tree: Tree, patches: readonly string[]): Promise<void> {
  const index = await objectIndex(tree);
  const sources = patches.flatMap((patch) =>
    parsePatch(readFileSync(join(repoRoot(), patch), 'utf8')).files.filter((f) => f.role === 'c').map((f) => f.path),
  );
  const objects = sources.flatMap((source) => index.get(source) ?? []);
  if (objects.length !== sources.length) throw new Error(`${tree.release}: no object for some of ${sources.join(', ')}`);
  const scratch = mkdtempSync(join(tmpdir(), 'spliced-warm-'));
  try {
    await compileUnpatched(tree, objects, scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
