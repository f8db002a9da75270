// One-TU patch with a warm tree: prepare (from the cache) + vet + pre/post compile of fs/proc/meminfo.o, as
// `spliced build pairs` does it. "warm" reuses the cached pre object (the normal case: the pristine tree never
// changes); "both compiles" first drops the cached pre object. Module generation is not part of this yet.
// Run: npx tsc -p tsconfig.json && node dist/bench/build-warm.js [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileTouched } from '../src/build/compile/compile';
import { benchTree, fixture, median, runsArg, seconds, timed } from './build-common';

async function oneBuild(dropPreCache: boolean): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), 'bench-warm-'));
  try {
    const { ms } = await timed(async () => {
      const tree = await benchTree();
      if (dropPreCache) rmSync(join(tree.cacheDir, 'pre-objects/fs/proc/meminfo.o'), { force: true });
      return compileTouched(tree, fixture('01-string-meminfo.patch'), out);
    });
    return ms;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = runsArg(5);
  await benchTree(); // prepared outside the measurement
  await oneBuild(false); // fills the pre cache
  const warm: number[] = [];
  const both: number[] = [];
  for (let i = 0; i < runs; i++) {
    warm.push(await oneBuild(false));
    both.push(await oneBuild(true));
  }
  console.log(`one-TU patch (fs/proc/meminfo.c), ${runs} runs, -j2:`);
  console.log(`  warm (pre object cached):   median ${seconds(median(warm))}  [${warm.map(seconds).join(', ')}]`);
  console.log(`  both compiles (pre + post): median ${seconds(median(both))}  [${both.map(seconds).join(', ')}]`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
