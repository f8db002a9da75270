import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cachedTree,
  debianVersionFromProcVersion,
  makeArgsFor,
  prepareTree,
  resolveDebianBuild,
  treeCacheDir,
} from '../../../src/build/tree/tree';
import { make } from '../../../src/build/tree/kmake';
import { isSplicedError } from '../../../src/errors';
import { FIXTURE_RELEASE, fixtureTree, scratchDir } from './kernel-tree';

const DEBIAN_PROC_VERSION =
  'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)';

test('the Debian version comes from /proc/version; a non-Debian kernel is NotApplicable', async () => {
  assert.equal(debianVersionFromProcVersion(DEBIAN_PROC_VERSION), '6.1.192-2');
  assert.deepEqual(await resolveDebianBuild({ release: '6.1.0-56-amd64', procVersion: DEBIAN_PROC_VERSION }), {
    release: '6.1.0-56-amd64',
    debianVersion: '6.1.192-2',
  });
  await assert.rejects(
    resolveDebianBuild({ release: '6.18.44', procVersion: 'Linux version 6.18.44 (builder@x) (gcc 15) #1 SMP @0' }),
    (err) => isSplicedError(err, 'NotApplicable'),
  );
});

test('a release maps to its Debian version through apt; unknown or malformed releases are refused', async () => {
  assert.equal((await resolveDebianBuild({ release: FIXTURE_RELEASE })).debianVersion, '6.1.192-2');
  assert.equal((await resolveDebianBuild({ release: '6.1.0-55-amd64' })).debianVersion, '6.1.192-1');
  await assert.rejects(resolveDebianBuild({ release: '6.1.0-999-amd64' }), (err) => isSplicedError(err, 'NotApplicable'));
  await assert.rejects(resolveDebianBuild({ release: '../../etc' }), (err) => isSplicedError(err, 'InvalidArgument'));
});

test('the prepared tree has the real build .config, and its modules carry Debian\'s vermagic', async () => {
  const tree = await fixtureTree();
  const headersConfig = readFileSync(join(tree.cacheDir, 'headers/usr/src', `linux-headers-${FIXTURE_RELEASE}`, '.config'), 'utf8');
  const settings = (text: string) => text.split('\n').filter((l) => l.startsWith('CONFIG_')).join('\n');
  assert.equal(settings(readFileSync(join(tree.sourceDir, '.config'), 'utf8')), settings(headersConfig));
  assert.match(readFileSync(join(tree.sourceDir, 'include/generated/utsrelease.h'), 'utf8'), /"6\.1\.0-56-amd64"/);

  const dir = scratchDir('vermagic');
  writeFileSync(join(dir, 'hello.c'), '#include <linux/module.h>\nstatic int __init hello_init(void) { return 0; }\nmodule_init(hello_init);\nMODULE_LICENSE("GPL");\n');
  writeFileSync(join(dir, 'Makefile'), 'obj-m := hello.o\n');
  const built = await make(tree, [`M=${dir}`, 'modules']);
  assert.equal(built.code, 0, built.stderr);
  const vermagic = execFileSync('modinfo', ['-F', 'vermagic', join(dir, 'hello.ko')], { encoding: 'utf8' }).trim();
  assert.equal(vermagic, '6.1.0-56-amd64 SMP preempt mod_unload modversions');
  assert.equal(tree.vermagic, vermagic);
});

test('a second prepare comes from the cache in well under a second', async () => {
  await fixtureTree();
  const started = Date.now();
  const again = await prepareTree({ release: FIXTURE_RELEASE, debianVersion: '6.1.192-2' });
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  assert.equal(again.preparedInMs, 0);
});

test('a cache entry without its ready marker, or prepared with other make arguments, is not a ready tree', async (t) => {
  const root = scratchDir('tree-cache');
  const saved = process.env.SPLICED_CACHE_DIR;
  process.env.SPLICED_CACHE_DIR = root;
  t.after(() => {
    if (saved === undefined) delete process.env.SPLICED_CACHE_DIR;
    else process.env.SPLICED_CACHE_DIR = saved;
  });
  const build = { release: FIXTURE_RELEASE, debianVersion: '6.1.192-2' };
  const dir = treeCacheDir(build);
  assert.ok(dir.startsWith(root));
  mkdirSync(join(dir, 'linux/include/generated'), { recursive: true });
  writeFileSync(join(dir, 'linux/include/generated/autoconf.h'), '');
  assert.equal(await cachedTree(build), undefined, 'half-prepared: no marker');
  const marker = { ...build, vermagic: 'x', makeArgs: makeArgsFor(build), preparedAt: new Date().toISOString(), preparedInMs: 1 };
  writeFileSync(join(dir, 'tree.json'), JSON.stringify(marker));
  assert.equal((await cachedTree(build))?.sourceDir, join(dir, 'linux'));
  rmSync(join(dir, 'linux'), { recursive: true });
  assert.equal(await cachedTree(build), undefined, 'tree deleted by hand');
  mkdirSync(join(dir, 'linux/include/generated'), { recursive: true });
  writeFileSync(join(dir, 'linux/include/generated/autoconf.h'), '');
  writeFileSync(join(dir, 'tree.json'), JSON.stringify({ ...marker, makeArgs: ['-j2', 'CC=gcc-13'] }));
  assert.equal(await cachedTree(build), undefined, 'prepared with another compiler');
  writeFileSync(join(dir, 'tree.json'), '{"release": "6.1.0-56-amd64", "debianVers');
  assert.equal(await cachedTree(build), undefined, 'truncated marker');
});
