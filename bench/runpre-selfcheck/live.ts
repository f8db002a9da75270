// The run-pre self-check's live half, inside a guest booted on the sample's kernel (bench/runpre-selfcheck.ts --live
// starts it): every function of the sample's unpatched objects run-pre checked against the running kernel's own
// memory (/proc/kcore at /proc/kallsyms' addresses), as a build for the running kernel checks it — after `modprobe` of
// each module the sample has objects of. Writes the count to $GUEST_WORK/report.txt.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { kcoreSource } from '../../src/build/runpre/sources';
import { readKernelFile } from '../../src/kernel/read-kernel-file';
import { checkObject, newTally, printTally } from './tally';

/** What the host hands over: each object's kbuild target (its file under pre/) and module. */
export interface LiveSample {
  objects: { target: string; module?: string }[];
  show: number;
}

async function main(): Promise<void> {
  const work = process.env.GUEST_WORK ?? '';
  const sample = JSON.parse(readFileSync(join(work, 'sample.json'), 'utf8')) as LiveSample;
  const notLoaded = new Set<string>();
  for (const module of new Set(sample.objects.flatMap((o) => (o.module ? [o.module] : [])))) {
    await promisify(execFile)('modprobe', [module]).catch(() => notLoaded.add(module));
  }
  const kernel = kcoreSource((await readKernelFile('/proc/kallsyms')).toString('utf8'));
  const tally = newTally();
  const counted = { vmlinux: 0, modules: 0 };
  for (const o of sample.objects) {
    if (o.module && notLoaded.has(o.module)) continue;
    const target = posix.normalize(o.target);
    checkObject(target, readFileSync(join(work, 'pre', target)), o.module ?? 'vmlinux', kernel, tally);
    counted[o.module ? 'modules' : 'vmlinux']++;
  }
  const lines = [
    `live kernel: ${counted.vmlinux} vmlinux + ${counted.modules} module objects checked (${notLoaded.size} modules the guest could not load: ${[...notLoaded].join(' ') || 'none'})`,
  ];
  printTally(tally, sample.show, (line) => lines.push(line));
  writeFileSync(join(work, 'report.txt'), `${lines.join('\n')}\n`);
}

main().catch((err) => {
  writeFileSync(join(process.env.GUEST_WORK ?? '', 'report.txt'), `live check failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
