// One-TU patch with a warm tree: prepare (from the cache) + vet + pre/post compile of fs/proc/meminfo.o, as
// `spliced build pairs` does it. "warm" reuses the cached pre object (the normal case: the pristine tree never
// changes) and compiles the patched one; "both compiles" first drops the cached pre object too; "again" is the same
// patch built before (both objects cached: the tree is not patched). Module generation is not part of this yet.
// Run: npx tsc -p tsconfig.json && node dist/bench/build-warm.js [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileTouched } from '../src/build/compile/compile';
import { benchTree, fixture, median, runsArg, seconds, timed } from './build-common';

type Cached = 'both' | 'pre' | 'none';

async function oneBuild(cached: Cached): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), 'bench-warm-'));
  try {
    const { ms } = await timed(async () => {
      const tree = await benchTree();
      if (cached !== 'both') rmSync(join(tree.cacheDir, 'post-objects'), { recursive: true, force: true });
      if (cached === 'none') rmSync(join(tree.cacheDir, 'pre-objects/fs/proc/meminfo.o'), { force: true });
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
  await oneBuild('pre'); // fills the pre cache
  const again: number[] = [];
  const warm: number[] = [];
  const both: number[] = [];
  for (let i = 0; i < runs; i++) {
    warm.push(await oneBuild('pre'));
    again.push(await oneBuild('both'));
    both.push(await oneBuild('none'));
  }
  console.log(`one-TU patch (fs/proc/meminfo.c), ${runs} runs, -j2:`);
  console.log(`  again (both objects cached): median ${seconds(median(again))}  [${again.map(seconds).join(', ')}]`);
  console.log(`  warm (pre object cached):   median ${seconds(median(warm))}  [${warm.map(seconds).join(', ')}]`);
  console.log(`  both compiles (pre + post): median ${seconds(median(both))}  [${both.map(seconds).join(', ')}]`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
