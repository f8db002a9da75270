// Prepared kernel trees for suites that build splices inside the guest. The guest has no network, so the host
// prepares the trees (src/build/tree.ts, through apt) and each run gets a copy of each as an ext4 disk, mounted
// read-write where the builder looks (/var/cache/spliced/trees/<entry>, by kernel-trees.sh). A copy, not a 9p share:
// the builder walks the whole tree on every build, which over 9p under TCG took minutes, and a shared tree changes
// under the guest whenever the host builds in it (docs/testing.md has the measurements).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { withLock } from '../../../src/build/tree/lock';
import type { Tree } from '../../../src/build/tree/tree';
import type { GuestDisk } from './vm';

const run = promisify(execFile);

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
        const sizeMiB = Math.ceil((await usedMiB(tree.cacheDir)) * 1.1) + HEADROOM_MIB;
        // No journal: the disk lives for one run. The copy holds our lock file; the guest takes it over (another boot).
        await run('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-d', tree.cacheDir, image, `${sizeMiB}M`]);
      }),
  };
}

/**
 * Disks for runGuest with copies of the given prepared trees (made as the run starts: ≈ 10 s and 1.8 GB each, deleted
 * with the run), and `workDir/kernel-trees.tsv`, which tells kernel-trees.sh in the guest which disk is which entry.
 */
export function kernelTreeDisks(trees: readonly Tree[], workDir: string): GuestDisk[] {
  const disks = trees.map((tree, i) => treeDisk(tree, `spliced-tree${i}`));
  writeFileSync(join(workDir, 'kernel-trees.tsv'), trees.map((t, i) => `${disks[i].serial}\t${basename(t.cacheDir)}\n`).join(''));
  return disks;
}
