import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compilePairs } from '../../../src/build/build';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { assertNoHostToolChange, hostCompileInputs } from '../../../src/build/tree/host-tools';
import { isSplicedError } from '../../../src/errors';
import { FIXTURE_RELEASE, fixtureTree, scratchDir } from './kernel-tree';

const HOST_CMD = [
  'cmd_scripts/mod/file2alias.o := gcc -Wp,-MMD,scripts/mod/.file2alias.o.d -O2 -c -o scripts/mod/file2alias.o scripts/mod/file2alias.c',
  '',
  'source_scripts/mod/file2alias.o := scripts/mod/file2alias.c',
  '',
  'deps_scripts/mod/file2alias.o := \\',
  '  scripts/mod/modpost.h \\',
  '  scripts/mod/../../include/linux/mod_devicetable.h \\',
  '',
  'scripts/mod/file2alias.o: $(deps_scripts/mod/file2alias.o)',
  '',
].join('\n');

const KERNEL_CMD = HOST_CMD.replace('gcc -Wp', 'gcc -nostdinc -Wp');

/** A unified diff that changes one line of `file`. */
const oneLinePatch = (file: string) => `--- a/${file}\n+++ b/${file}\n@@ -1 +1 @@\n-old\n+new\n`;

function fakeTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'host-tools-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

test('a host compile names its source and dependencies, relative to the tree; a kernel compile names none', () => {
  assert.deepEqual(hostCompileInputs(HOST_CMD, '/t/scripts/mod', '/t'), [
    'scripts/mod/file2alias.c',
    'scripts/mod/modpost.h',
    'include/linux/mod_devicetable.h',
  ]);
  assert.deepEqual(hostCompileInputs(KERNEL_CMD, '/t/scripts/mod', '/t'), []);
});

test('a patch changing a source of a built host program, or of one its Makefile declares, is refused as host-tool', async () => {
  const tree = fakeTree({
    'scripts/mod/.file2alias.o.cmd': HOST_CMD,
    'include/linux/mod_devicetable.h': 'old\n',
    'drivers/gpu/gen/Makefile': 'hostprogs := mkregs\nmkregs-objs := mkregs.o table.o\nobj-m += gen.o\n',
    'drivers/gpu/gen/table.c': 'old\n',
    'drivers/gpu/gen/gen.c': 'old\n',
  });
  const refusal = (file: string) => (err: unknown) => isSplicedError(err, 'UnsafePatch') && err.details.reason === 'host-tool' && err.details.path === file;
  const compiled = new Map([['drivers/gpu/gen/gen.c', []]]);
  for (const file of ['include/linux/mod_devicetable.h', 'drivers/gpu/gen/table.c']) {
    await assert.rejects(assertNoHostToolChange(tree, parsePatch(oneLinePatch(file)), compiled), refusal(file));
  }
  await assertNoHostToolChange(tree, parsePatch(oneLinePatch('drivers/gpu/gen/gen.c')), compiled);
});

test('in a real tree, a patch to a header modpost is compiled from is refused before anything is compiled', { timeout: 600_000 }, async () => {
  await fixtureTree();
  const patch = `--- a/include/linux/mod_devicetable.h\n+++ b/include/linux/mod_devicetable.h\n@@ -1,2 +1,3 @@\n /* SPDX-License-Identifier: GPL-2.0 */\n+/* changed */\n /*\n`;
  const steps: string[] = [];
  await assert.rejects(
    compilePairs({ patchText: patch, target: { release: FIXTURE_RELEASE }, onProgress: (p) => steps.push(p.message) }, scratchDir('host-tool')),
    (err) => isSplicedError(err, 'UnsafePatch') && err.details.reason === 'host-tool',
  );
  assert.ok(!steps.some((s) => s.startsWith('compiling')), `nothing compiled: ${steps.join(' | ')}`);
});
