// What kpatch-build's approach would cost here: it builds the whole kernel (vmlinux and modules) twice.
// How: the tree's object index (src/build/objects.ts: kbuild's dry run of `make vmlinux modules`) lists every C
// object of this configuration; a fixed-seed random sample of N of them is compiled in one `make -j2` (so make's start-up cost
// is shared like in a real build) and the per-object time is multiplied by the object count, times two.
// Linking and modpost are not included, so the estimate is low. The sample objects are deleted afterwards.
// Run: npx tsc -p tsconfig.json && node dist/bench/build-fullbuild.js [--runs 3] [--sample 40]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { make } from '../src/build/tree/kmake';
import { objectIndex } from '../src/build/tree/objects';
import { benchTree, median, runsArg, seconds, timed } from './build-common';

function sampleArg(): number {
  const i = process.argv.indexOf('--sample');
  return i >= 0 ? Number(process.argv[i + 1]) : 40;
}

/** A small deterministic PRNG, so every run measures the same sample. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function main(): Promise<void> {
  const tree = await benchTree();
  const objects = [...(await objectIndex(tree)).values()].flat().map((o) => o.target).sort();

  const sample = shuffled(objects, 42).slice(0, sampleArg());
  const perObject: number[] = [];
  for (let i = 0; i < runsArg(3); i++) {
    for (const o of sample) rmSync(join(tree.sourceDir, o), { force: true });
    const { ms, value } = await timed(() => make(tree, ['-k', ...sample]));
    if (value.code !== 0) throw new Error(`sample build failed:\n${value.stderr.slice(-2000)}`);
    perObject.push(ms / sample.length);
  }
  for (const o of sample) rmSync(join(tree.sourceDir, o), { force: true });

  const per = median(perObject);
  const oneBuild = per * objects.length;
  console.log(`C objects in this configuration (kbuild dry run of vmlinux + modules): ${objects.length}`);
  console.log(`sample: ${sample.length} objects at -j2, median ${(per / 1000).toFixed(2)} s per object [${perObject.map((p) => (p / 1000).toFixed(2)).join(', ')}]`);
  console.log(`one full build ≈ ${seconds(oneBuild)} (${(oneBuild / 3.6e6).toFixed(1)} h); kpatch-build needs two: ≈ ${(2 * oneBuild / 3.6e6).toFixed(1)} h (compiles only, no linking)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
