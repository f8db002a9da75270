// The ELF reader and the module door fuzzed with mutations of real objects: a kernel translation unit compiled in
// the fixture kernel's tree, a Debian module (signed) from that kernel's image package, a small committed kernel
// object and a gcc object with a .modinfo. Only the named errors may come out: ElfFormatError from the reader and the
// differ's object loader, CorruptModule from the module door.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { targetModuleFiles } from '../../../src/build/tree/target-image';
import { fixturePairs, fixtureTree } from '../build/kernel-tree';
import { livepatchFile } from '../kernel/module-file';
import { describeFailures, FUZZ_SEED, iterations } from './fuzz';
import { fuzzInWorker } from './run';
import type { TargetName } from './targets';

const RUNPRE = resolve(__dirname, '../../../../test/fixtures/runpre');

interface Input {
  name: string;
  bytes: Buffer;
  /** A module has a .modinfo: the door accepts some of its mutations. */
  module: boolean;
}

async function realInputs(): Promise<Input[]> {
  const tree = await fixtureTree();
  const [pair] = await fixturePairs('01-string-meminfo.patch');
  const debianModule = (await targetModuleFiles(tree, ['nls_iso8859_1'])).get('nls_iso8859_1');
  assert.ok(debianModule, 'the image package ships nls_iso8859_1.ko');
  return [
    { name: 'fs/proc/meminfo.o (fixture kernel tree)', bytes: readFileSync(pair.pre), module: false },
    { name: 'nls_iso8859_1.ko (Debian, signed)', bytes: debianModule, module: true },
    { name: 'boot-sites.o (test/fixtures/runpre)', bytes: readFileSync(resolve(RUNPRE, 'boot-sites.o')), module: false },
    { name: 'gcc livepatch-like module', bytes: readFileSync(livepatchFile('fuzz_lp')), module: true },
  ];
}

const PER_INPUT = iterations(1500);
const TARGETS: TargetName[] = ['elf-reader', 'object-loader', 'module-door'];

test(`ELF reader, object loader and module door: ${PER_INPUT} mutations of each of 4 real objects each, only named errors`, { timeout: 300_000 }, async (t) => {
  const inputs = await realInputs();
  for (const [k, input] of inputs.entries()) {
    await t.test(input.name, async () => {
      const started = Date.now();
      const data = { inputs: [input.bytes, ...inputs.filter((i) => i !== input).map((i) => i.bytes)] };
      const runs = await Promise.all(TARGETS.map((name, n) => fuzzInWorker(name, data, PER_INPUT, FUZZ_SEED + 10 * n + k, 60_000)));
      const accepted = runs.map((r) => r.accepted).join('/');
      t.diagnostic(`${input.name}: ${TARGETS.length * PER_INPUT} runs in ${Date.now() - started} ms; accepted (${TARGETS.join('/')}) ${accepted}`);
      const failures = runs.flatMap((r) => r.failures);
      assert.equal(failures.length, 0, describeFailures(failures));
      // Mutations all refused at the magic number would test nothing past it; an object has no .modinfo for the door.
      for (const run of input.module ? runs : runs.slice(0, 2)) {
        assert.ok(run.accepted > PER_INPUT / 10, `only ${run.accepted} of ${PER_INPUT} mutated inputs got past the reader`);
      }
    });
  }
});
