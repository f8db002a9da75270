// How the feed's splice finds the fixes the builder refuses, with a scripted builder (the real one: real-splice.test.ts
// on the host, guest-build boot 3): this arch's assembly is refused without a build; a refusal that names its files (the differ's problems carry their objects, a
// vetting refusal its path: a host program's source) takes those out and builds the rest once more; one that names none (a header reaching
// a unit, run-pre) tries each file alone.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { SpliceBuilder } from '../../../src/engine/types';
import { SplicedError } from '../../../src/errors';
import { buildFeedSplice } from '../../../src/sources/feed/feed-splice';

const diff = (file: string) => `--- a/${file}\n+++ b/${file}\n@@ -1 +1 @@\n-old\n+new\n`;
const filesOf = (patchText: string) => [...patchText.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]);

/** A builder that refuses every patch holding one of `refuse`'s files with that refusal; the others build. */
function scripted(refuse: Record<string, (files: string[]) => SplicedError>) {
  const builds: string[][] = [];
  const texts: string[] = [];
  const builder: SpliceBuilder = {
    build: async ({ patchText }, output) => {
      const files = filesOf(patchText);
      builds.push(files);
      texts.push(patchText);
      const refusing = files.find((f) => f in refuse);
      if (refusing) throw refuse[refusing](files);
      await fs.writeFile(output, 'module');
    },
  };
  return { builder, builds, texts };
}

const problem = (object: string, symbol: string) => ({ reason: 'init', symbol, detail: `${symbol} is init/exit code (.init.text), which has already run`, object });
/** The differ's refusal of every refused object in the build, as assertPatchable throws it. */
const differ = (refused: Record<string, string>) => (files: string[]) => {
  const problems = files.filter((f) => f in refused).map((f) => problem(f.replace(/\.c$/, '.o'), refused[f]));
  return new SplicedError('UnsafePatch', `cannot livepatch this change: ${problems[0].detail}`, { reason: 'init', problems });
};

/** `assembly`: this arch's assembly files of the delta, which the delta's patch leaves out (deltaPatch). */
async function splice(builder: SpliceBuilder, files: string[], lines: { text: string; cves?: string[]; files?: string[] }[] = [], assembly: string[] = []) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-feed-splice-'));
  const delta = { files: [...assembly.map((p) => ({ path: p, kind: 'assembly', change: 'modified' })), ...files.map((p) => ({ path: p, kind: 'compiled', change: 'modified' }))], buildFiles: [] };
  try {
    return await buildFeedSplice({
      plan: { report: { changelog: [{ version: '6.1.192-3', cves: [], lines }], delta }, patchText: files.map(diff).join('') },
      running: '6.1.192-1',
      target: '6.1.192-3',
      builder,
      output: path.join(dir, 'splice.ko'),
      onStep: () => undefined,
      signal: new AbortController().signal,
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('the feed splice and what the builder refuses', () => {
  it('the differ names the refused file: it is taken out and the rest built once more (two builds)', async () => {
    const refused = { 'fs/proc/cmdline.c': 'proc_cmdline_init' };
    const b = scripted({ 'fs/proc/cmdline.c': differ(refused) });
    const line = { text: 'proc: fs/proc/cmdline.c (CVE-2026-99902)', cves: ['CVE-2026-99902'], files: ['fs/proc/cmdline.c'] };
    const result = await splice(b.builder, ['fs/ext4/mballoc.c', 'fs/proc/cmdline.c', 'fs/proc/meminfo.c'], [line, { text: 'proc: meminfo (CVE-2026-99901)', cves: ['CVE-2026-99901'] }]);
    assert.deepEqual(b.builds, [['fs/ext4/mballoc.c', 'fs/proc/cmdline.c', 'fs/proc/meminfo.c'], ['fs/ext4/mballoc.c', 'fs/proc/meminfo.c']]);
    assert.deepEqual(result.refused, [{ file: 'fs/proc/cmdline.c', kind: 'UnsafePatch', message: 'cannot livepatch this change: proc_cmdline_init is init/exit code (.init.text), which has already run' }]);
    assert.equal(result.built, true);
    assert.equal(result.complete, false);
    assert.deepEqual(result.rebootReasons, [
      'Debian 6.1.192-3 "proc: fs/proc/cmdline.c (CVE-2026-99902)" (CVE-2026-99902): fs/proc/cmdline.c cannot be spliced (UnsafePatch: cannot livepatch this change: proc_cmdline_init is init/exit code (.init.text), which has already run)',
    ]);
    assert.doesNotMatch(b.texts[1], /CVE-2026-99902|Spliced-Version/, 'the refused fix is not claimed');
    assert.match(b.texts[1], /CVE-2026-99901/);
  });

  it('two refused files in one build: both out at once, each with its own reason', async () => {
    const refused = { 'fs/a.c': 'a_init', 'fs/c.c': 'c_init' };
    const b = scripted({ 'fs/a.c': differ(refused), 'fs/c.c': differ(refused) });
    const result = await splice(b.builder, ['fs/a.c', 'fs/b.c', 'fs/c.c']);
    assert.deepEqual(b.builds, [['fs/a.c', 'fs/b.c', 'fs/c.c'], ['fs/b.c']]);
    assert.deepEqual(result.refused.map((r) => [r.file, r.message]), [
      ['fs/a.c', 'cannot livepatch this change: a_init is init/exit code (.init.text), which has already run'],
      ['fs/c.c', 'cannot livepatch this change: c_init is init/exit code (.init.text), which has already run'],
    ]);
    assert.equal(result.built, true);
  });

  it("a vetting refusal names its path (a host program's header): taken out the same way", async () => {
    const header = 'include/linux/mod_devicetable.h';
    const b = scripted({ [header]: () => new SplicedError('UnsafePatch', 'a source of a program the kernel build runs', { reason: 'host-tool', path: header }) });
    const result = await splice(b.builder, ['fs/b.c', header]);
    assert.deepEqual(b.builds, [['fs/b.c', header], ['fs/b.c']]);
    assert.deepEqual(result.refused.map((r) => [r.file, r.message]), [[header, 'a source of a program the kernel build runs']]);
    assert.equal(result.built, true);
  });

  it('a refusal naming a unit outside the delta (a header reaches it): each file alone, then the rest', async () => {
    const reach = () => new SplicedError('UnsafePatch', 'layout', { reason: 'struct-layout', problems: [problem('fs/reached.o', 'x')] });
    const b = scripted({ 'include/linux/x.h': reach });
    const result = await splice(b.builder, ['fs/b.c', 'include/linux/x.h']);
    assert.deepEqual(b.builds, [['fs/b.c', 'include/linux/x.h'], ['fs/b.c'], ['include/linux/x.h'], ['fs/b.c']]);
    assert.deepEqual(result.refused.map((r) => r.file), ['include/linux/x.h']);
  });

  it("this arch's assembly in the delta is refused without a build, named as the builder names it; the rest is built", async () => {
    const b = scripted({});
    const line = { text: 'x86/entry: fix the syscall return path (CVE-2026-99903)', cves: ['CVE-2026-99903'], files: ['arch/x86/entry/entry_64.S'] };
    const result = await splice(b.builder, ['fs/b.c'], [line], ['arch/x86/entry/entry_64.S']);
    assert.deepEqual(b.builds, [['fs/b.c']]);
    assert.equal(result.built, true);
    assert.equal(result.complete, false, 'EffectiveVersion must not reach the target');
    assert.deepEqual(result.rebootReasons, [
      'Debian 6.1.192-3 "x86/entry: fix the syscall return path (CVE-2026-99903)" (CVE-2026-99903): arch/x86/entry/entry_64.S cannot be spliced (UnsafePatch: the patch changes the assembly file arch/x86/entry/entry_64.S; assembly cannot be spliced)',
    ]);
    assert.doesNotMatch(b.texts[0], /CVE-2026-99903|Spliced-Version/);
    const only = await splice(scripted({}).builder, [], [line], ['arch/x86/entry/entry_64.S']);
    assert.deepEqual([only.built, only.complete, only.refused.length], [false, false, 1]);
  });

  it('only refused files: nothing built', async () => {
    const b = scripted({ 'fs/a.c': differ({ 'fs/a.c': 'a_init' }) });
    const result = await splice(b.builder, ['fs/a.c']);
    assert.deepEqual(b.builds, [['fs/a.c']]);
    assert.equal(result.built, false);
    assert.equal(result.complete, false);
    assert.equal(result.rebootReasons.length, 1);
  });
});
