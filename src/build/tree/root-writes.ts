// A cache directory root wrote into (a kernel tree, the feed cache) is marked by belonging to root: before its next
// job, spliced-build@.service hands such a directory over to the spliced-build user (`chown -R --from=root`), and only
// such a directory, so a job does not walk 1.7 GB trees to find nothing to hand over (docs/systemd.md, "Builds and the
// feed's plan"). Marked before root writes (a crash leaves it marked) and again after (a handover that ran meanwhile
// is redone at the next job). Other users write nothing that needs handing over.

import { promises as fs } from 'node:fs';

async function markAsRoots(dir: string): Promise<void> {
  const owner = await fs.stat(dir).catch(() => undefined);
  // A directory root is about to create is root's anyway.
  if (owner && (owner.uid !== 0 || owner.gid !== 0)) await fs.chown(dir, 0, 0);
}

/** Runs `body`, which writes into `dir`; run as root, `dir` is marked for the build unit's handover. */
export async function writingInto<T>(dir: string, body: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) return body();
  await markAsRoots(dir);
  try {
    return await body();
  } finally {
    await markAsRoots(dir);
  }
}
