// Run-pre self-check: the builder's unpatched objects against the distribution's own binaries must match, function by
// function. A fixed sample of kbuild's objects of Debian's build (vmlinux and module objects, chosen by a hash of their
// names, so every run takes the same ones) is compiled as a build compiles them (the tree's pre-objects cache), and
// every function is run-pre checked against the target image: vmlinux (+ System.map) from the image packages, each
// module's .ko laid out like the loader does, with the translation unit of each same-named local from the -dbg
// package, exactly as a build for that kernel knows them. Prints the match rate and every mismatch by class.
// --live: the first of those objects against the kernel's own memory instead, in a guest booted on it (one boot;
// bench/runpre-selfcheck/live.ts inside), as a build for the running kernel checks them.
// Run: nice -n 10 node dist/bench/runpre-selfcheck.js [--vmlinux 300] [--modules 300] [--show 20]
//      flock /tmp/spliced-guest.lock nice -n 10 node dist/bench/runpre-selfcheck.js --live [--vmlinux 100] [--modules 50]

import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compileUnpatched } from '../src/build/compile/compile';
import { loadObject } from '../src/build/differ/object';
import { KernelObject } from '../src/build/tree/objects';
import { moduleFileSource } from '../src/build/runpre/module-source';
import { RunningKernel, vmlinuxFileSource } from '../src/build/runpre/sources';
import { parseSameNamed, withFiles } from '../src/build/module/symbols';
import { targetImage, targetModuleFiles, targetModuleSameNamed } from '../src/build/tree/target-image';
import { Tree } from '../src/build/tree/tree';
import { repoRoot, runGuest } from '../test/guest/harness';
import { benchTree, numberArg, seconds } from './build-common';
import { checkObject, newTally, printTally } from './runpre-selfcheck/tally';
import type { LiveSample } from './runpre-selfcheck/live';

const BATCH = 8;
const MODULE_BASE = 0xffffffffc0000000n;


/** Objects whose code is not kernel text at run time: host tools, the boot and real-mode images, the vDSO, the EFI stub. */
const NOT_KERNEL_TEXT = /^(scripts|tools|usr|arch\/x86\/(boot|realmode|entry\/vdso|purgatory)|drivers\/firmware\/efi\/libstub)\//;

/** Eligible objects of each kind in the order of a hash of their names: fixed, and spread over the tree. */
function hashOrder(objects: KernelObject[]): { vmlinux: KernelObject[]; modules: KernelObject[] } {
  const key = (o: KernelObject) => createHash('sha256').update(o.target).digest('hex');
  const eligible = objects.filter((o) => !NOT_KERNEL_TEXT.test(posix.normalize(o.target))).sort((a, b) => (key(a) < key(b) ? -1 : 1));
  return { vmlinux: eligible.filter((o) => !o.module), modules: eligible.filter((o) => o.module) };
}

/**
 * Host programs' objects (kbuild builds a few inside the kernel's directories) are compiled without the builder's
 * -ffunction-sections: their functions sit in plain .text (main in .text.startup), where a kernel object has sections named
 * after its functions.
 */
async function isKernelCode(outDir: string, o: KernelObject): Promise<boolean> {
  const obj = loadObject(await readFile(join(outDir, 'pre', posix.normalize(o.target))));
  const section = (f: (typeof obj.functions)[number]) => obj.sections[f.shndx].name;
  return !obj.functions.some((f) => section(f) === '.text') || obj.functions.some((f) => section(f).endsWith(`.${f.name}`));
}

/**
 * The first `count` kernel objects of `ordered`, compiled in small batches (the tree lock is held per batch, so other
 * builds interleave); objects that fail to compile are reported, host programs skipped.
 */
async function compileSample(tree: Tree, ordered: KernelObject[], count: number, outDir: string, failed: Map<string, string>): Promise<KernelObject[]> {
  const chosen: KernelObject[] = [];
  for (let i = 0; i < ordered.length && chosen.length < count; i += BATCH) {
    const batch = ordered.slice(i, i + Math.min(BATCH, count - chosen.length));
    try {
      await compileUnpatched(tree, batch, outDir);
    } catch {
      for (const o of batch) {
        await compileUnpatched(tree, [o], outDir).catch((err: Error) => failed.set(o.target, err.message.split('\n')[0]));
      }
    }
    for (const o of batch) if (failed.has(o.target) || (await isKernelCode(outDir, o))) chosen.push(o);
    process.stderr.write(`\rcompiled ${chosen.length}/${count}`);
  }
  process.stderr.write('\n');
  return chosen;
}

/**
 * The sample (--vmlinux and --modules objects, else the given counts) compiled into `outDir/pre/`, and the objects
 * that did not compile with why.
 */
async function compiledSample(tree: Tree, outDir: string, vmlinux: number, modules: number): Promise<{ objects: KernelObject[]; failed: Map<string, string> }> {
  const ordered = hashOrder(JSON.parse(readFileSync(join(tree.cacheDir, 'objects.json'), 'utf8')) as KernelObject[]);
  const failed = new Map<string, string>();
  const objects = [
    ...(await compileSample(tree, ordered.vmlinux, numberArg('vmlinux', vmlinux), outDir, failed)),
    ...(await compileSample(tree, ordered.modules, numberArg('modules', modules), outDir, failed)),
  ];
  return { objects, failed };
}

/** The live half: the sample compiled here, checked in a guest running that kernel. */
async function live(): Promise<void> {
  const started = performance.now();
  const tree = await benchTree();
  const workDir = await mkdtemp(join(tmpdir(), 'spliced-runpre-live-'));
  const { objects, failed } = await compiledSample(tree, workDir, 100, 50);
  const sample: LiveSample = { objects: objects.filter((o) => !failed.has(o.target)).map((o) => ({ target: o.target, ...(o.module && { module: o.module }) })), show: numberArg('show', 20) };
  writeFileSync(join(workDir, 'sample.json'), JSON.stringify(sample));
  copyFileSync(join(repoRoot(), 'bench/runpre-selfcheck/entry.sh'), join(workDir, 'entry.sh'));
  const result = await runGuest({ name: 'runpre-live', workDir, entry: 'entry.sh', kernels: [tree.release], maxBoots: 1, timeoutMs: 20 * 60_000 });
  console.log(readFileSync(join(workDir, 'report.txt'), 'utf8').trimEnd());
  console.log(`guest exit ${result.exitCode}; wall time ${seconds(performance.now() - started)}; work directory ${workDir}`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--live')) return live();
  const started = performance.now();
  const show = numberArg('show', 20);
  const tree = await benchTree();
  const outDir = await mkdtemp(join(tmpdir(), 'spliced-runpre-selfcheck-'));
  try {
    const { objects, failed } = await compiledSample(tree, outDir, 300, 300);
    const compiledAt = performance.now();
    const image = await targetImage(tree);
    const moduleNames = objects.flatMap((o) => (o.module ? [o.module] : []));
    const modules = await targetModuleFiles(tree, moduleNames);
    // The builder's knowledge of which unit each same-named local comes from (generateSplice, src/build/splice.ts).
    const files = await targetModuleSameNamed(tree, moduleNames);
    files.set('vmlinux', parseSameNamed(await readFile(image.sameNamed, 'utf8')));
    const withUnits = (kernel: RunningKernel): RunningKernel => ({ ...kernel, entriesOf: withFiles((object, name) => kernel.entriesOf(object, name), files) });
    const vmlinux = withUnits(vmlinuxFileSource(await readFile(image.vmlinux), await readFile(image.systemMap, 'utf8')));
    const tally = newTally();
    const counted = { vmlinux: 0, modules: 0, noKo: 0 };
    for (const o of objects) {
      if (failed.has(o.target)) continue;
      const bytes = await readFile(join(outDir, 'pre', posix.normalize(o.target)));
      const ko = o.module ? modules.get(o.module) : undefined;
      if (o.module && !ko) {
        counted.noKo++;
        continue;
      }
      const kernel = o.module && ko ? withUnits(moduleFileSource(o.module, ko, MODULE_BASE)) : vmlinux;
      checkObject(posix.normalize(o.target), bytes, o.module ?? 'vmlinux', kernel, tally);
      counted[o.module ? 'modules' : 'vmlinux']++;
    }
    console.log(`objects: ${counted.vmlinux} vmlinux + ${counted.modules} module objects checked (${failed.size} did not compile, ${counted.noKo} modules not in the image package)`);
    printTally(tally, show, console.log);
    for (const [target, why] of failed) console.log(`did not compile: ${target}: ${why}`);
    console.log(`wall time: ${seconds(performance.now() - started)} (compile ${seconds(compiledAt - started)}, check ${seconds(performance.now() - compiledAt)})`);
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
