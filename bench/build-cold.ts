// Cold preparation of a kernel tree, as on a machine that never built for this kernel: apt-get download of
// linux-source-6.1 and the headers deb, unpack, olddefconfig, modules_prepare; then the disk it takes.
// Uses a temporary SPLICED_CACHE_DIR and deletes it afterwards (the real cache is untouched).
// Run: npx tsc -p tsconfig.json && node dist/bench/build-cold.js [--runs 1]
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { prepareTree, resolveDebianBuild } from '../src/build/tree/tree';
import { diskBytes, median, RELEASE, runsArg, seconds, timed } from './build-common';

async function main(): Promise<void> {
  const runs = runsArg(1);
  const times: number[] = [];
  const disks: number[] = [];
  for (let i = 0; i < runs; i++) {
    const root = mkdtempSync(join('/var/tmp', 'bench-cold-'));
    process.env.SPLICED_CACHE_DIR = root;
    try {
      const { ms, value: tree } = await timed(async () => prepareTree(await resolveDebianBuild({ release: RELEASE })));
      times.push(ms);
      disks.push(diskBytes(tree.cacheDir));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
  console.log(`cold tree preparation for ${RELEASE}, ${runs} run(s), -j2:`);
  console.log(`  time: median ${seconds(median(times))}  [${times.map(seconds).join(', ')}]`);
  console.log(`  disk: median ${gb(median(disks))} (debs + headers + prepared tree)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
