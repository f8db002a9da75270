import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FIXTURE_RELEASE, fixtureTree, PATCHES, scratchDir } from './kernel-tree';

const COMMAND = resolve(__dirname, '../../../src/build/command.js');

function spliced(...args: string[]) {
  const res = spawnSync(process.execPath, [COMMAND, 'build', ...args], { encoding: 'utf8' });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('usage errors exit 2 with the usage text', () => {
  const none = spliced();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^spliced build: InvalidArgument: .*\nusage: spliced build/s);
  assert.equal(spliced('x.patch').code, 2, 'no -o');
  assert.equal(spliced('--bogus', 'x.patch', '-o', 'y.ko').code, 2);
});

test('a refused patch exits 1 with its named reason on stderr, and as JSON with --json', () => {
  const dir = scratchDir('cmd');
  const asm = join(PATCHES, '15-fail-assembly.patch');
  const res = spliced('--kernel-release', FIXTURE_RELEASE, asm, '-o', join(dir, 'x.ko'));
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^spliced build: UnsafePatch: .*assembly/);
  const json = spliced('--kernel-release', FIXTURE_RELEASE, asm, '-o', join(dir, 'x.ko'), '--json');
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).error.details.reason, 'assembly');
  assert.equal(existsSync(join(dir, 'x.ko')), false);

  writeFileSync(join(dir, 'empty.patch'), 'not a diff\n');
  assert.match(spliced(join(dir, 'empty.patch'), '-o', join(dir, 'x.ko')).stderr, /InvalidArgument: the file contains no unified diff/);
  assert.match(spliced(join(dir, 'missing.patch'), '-o', join(dir, 'x.ko')).stderr, /InvalidArgument: cannot read the patch/);
});

test('pairs writes the objects and a JSON report', async () => {
  await fixtureTree();
  const dir = scratchDir('cmd-pairs');
  const res = spliced('pairs', '--kernel-release', FIXTURE_RELEASE, join(PATCHES, '09-ext4-sysfs.patch'), dir, '--json');
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'pairs.json'), 'utf8'));
  assert.deepEqual(JSON.parse(res.stdout), report);
  assert.equal(report.kernel.debianVersion, '6.1.192-2');
  assert.deepEqual(report.pairs.map((p: { object: string; module: string }) => [p.object, p.module]), [['fs/ext4/sysfs.o', 'ext4']]);
  for (const p of report.pairs) assert.ok(existsSync(p.pre) && existsSync(p.post));
});

test('--source-version: the run-pre fixture built for 6.1.0-55 from 6.1.192-2 source exits 1 with RunPreMismatch', async () => {
  const dir = scratchDir('cmd-source');
  const patch = join(PATCHES, 'run-pre/ext4-mballoc-newer-source.patch');
  const res = spliced('--kernel-release', '6.1.0-55-amd64', '--source-version', '6.1.192-2', patch, '-o', join(dir, 'x.ko'), '--json');
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /^spliced build: RunPreMismatch: .*ext4_mb_load_buddy_gfp.*linux-source-6\.1 6\.1\.192-2/);
  const { error } = JSON.parse(res.stdout);
  assert.deepEqual([error.kind, error.details.function, error.details.sourceVersion], ['RunPreMismatch', 'ext4_mb_load_buddy_gfp', '6.1.192-2']);
  assert.equal(existsSync(join(dir, 'x.ko')), false);
});
