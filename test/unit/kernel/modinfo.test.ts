import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { isSplicedError } from '../../../src/errors';
import { moduleNameFromPath, parseModinfo, readModuleInfo } from '../../../src/kernel/modinfo';
import { moduleFile, RELEASE } from './module-file';

test('modinfo of a livepatch module: name, vermagic, release, livepatch flag, every field in order', async () => {
  const path = moduleFile('lp', {
    name: 'my_lp',
    vermagic: `${RELEASE} SMP preempt mod_unload modversions `,
    livepatch: 'Y',
    description: 'a test',
    alias: 'one',
    license: 'GPL',
  });
  const info = await readModuleInfo(path);
  assert.equal(info.name, 'my_lp');
  assert.equal(info.release, RELEASE);
  assert.equal(info.livepatch, true);
  assert.equal(info.description, 'a test');
  assert.deepEqual(Object.keys(info.fields), ['name', 'vermagic', 'livepatch', 'description', 'alias', 'license']);
});

test('a module without the livepatch flag, and without a name field (named after its file)', async () => {
  const info = await readModuleInfo(moduleFile('plain-mod', { vermagic: `${RELEASE} SMP` }));
  assert.equal(info.livepatch, false);
  assert.equal(info.name, 'plain_mod');
});

test('repeated keys keep every value', () => {
  assert.deepEqual(parseModinfo(Buffer.from('alias=a\0alias=b\0x=1=2\0\0')), { alias: ['a', 'b'], x: ['1=2'] });
  assert.equal(moduleNameFromPath('/x/my-mod.ko'), 'my_mod');
});

test('truncated file, no .modinfo, no vermagic: CorruptModule; missing file: UnreadableModule', async () => {
  const good = moduleFile('t', { vermagic: RELEASE });
  const truncated = `${good}.truncated`;
  writeFileSync(truncated, readFileSync(good).subarray(0, 200));
  const noVermagic = moduleFile('nv', { name: 'nv' });
  for (const path of [truncated, noVermagic, '/etc/hostname']) {
    await assert.rejects(readModuleInfo(path), (err) => isSplicedError(err, 'CorruptModule'), path);
  }
  await assert.rejects(readModuleInfo('/nonexistent/x.ko'), (err) => isSplicedError(err, 'UnreadableModule'));
});
