// Back-half benchmark: a compiled meminfo.o pair → livepatch .ko (diff, safety incl. pahole, extract, kbuild link
// against the installed headers, .klp.rela post-processing). Compiles are not counted (see bench/build-warm).
// kallsyms stands in from the pre object's symbols (the real one only matters for sympos, not for the time).
// Run: node dist/bench/differ-module.js [runs]

import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadObject } from '../src/build/differ/object';
import { kernelSymbols } from '../src/build/module/symbols';
import { spliceFromPairs } from '../src/build/splice-pairs';
import { fixtureTree } from '../test/unit/build/kernel-tree';
import { compileKernelObject } from '../test/unit/differ/kernel-corpus';

const HEADERS = '/usr/src/linux-headers-6.1.0-56-amd64';
const MEMINFO = 'fs/proc/meminfo.c';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  if (!existsSync(HEADERS)) {
    console.error(`needs the headers in ${HEADERS}`);
    process.exit(2);
  }
  const tree = await fixtureTree();
  const pre = compileKernelObject(tree, MEMINFO);
  const post = compileKernelObject(tree, MEMINFO, [{ file: MEMINFO, from: '"MemTotal:       "', to: '"MemTotaL:       "' }]);
  const kallsyms = loadObject(pre)
    .symbols.filter((s) => s.name !== '' && s.type !== 3 && s.type !== 4)
    .map((s, i) => `${(0xffffffff81000000n + BigInt(i * 16)).toString(16)} ${s.bind === 0 ? 't' : 'T'} ${s.name}`)
    .join('\n');
  const kernel = kernelSymbols(readFileSync(`${HEADERS}/Module.symvers`, 'utf8'), kallsyms);
  const times: number[] = [];
  let size = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const report = await spliceFromPairs({
      pairs: [{ object: 'fs/proc/meminfo.o', target: 'vmlinux', pre, post }],
      kernel,
      headersDir: HEADERS,
      moduleName: 'spliced_bench',
      patchSha256: '0'.repeat(64),
      buildId: 'bench',
    });
    times.push(performance.now() - start);
    size = report.module.length;
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ bench: 'differ-module', pair: 'fs/proc/meminfo.o', runs, medianMs: Math.round(times[Math.floor(runs / 2)]), minMs: Math.round(times[0]), maxMs: Math.round(times[runs - 1]), moduleBytes: size }));
}

void main();
