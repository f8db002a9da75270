import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseInstalled, parseMadison, parseStanzas } from '../../../src/sources/feed/apt-output';
import { aptView } from '../../../src/sources/feed/apt-view';
import { isSplicedError } from '../../../src/errors';
import { APT_FIXTURES, recordedApt } from './recorded-apt';

const fixture = (name: string) => readFileSync(join(APT_FIXTURES, name), 'utf8');

test('madison lists each version of the package once, archive lines only', () => {
  assert.deepEqual(parseMadison(fixture('madison-linux-source-6.1.txt'), 'linux-source-6.1'), [
    '6.1.192-3', '6.1.192-2', '6.1.192-1', '6.1.190-1', '6.1.187-1', '6.1.176-1', '6.1.170-3',
  ]);
  assert.deepEqual(parseMadison(fixture('madison-linux-source-6.1.txt'), 'linux-source-6.12'), []);
});

test('apt-cache show stanzas carry package, version and what the image was built from', () => {
  const stanzas = parseStanzas(fixture('show-images-amd64.txt'));
  assert.equal(stanzas.length, 11);
  const newest = stanzas.find((s) => s.Package === 'linux-image-6.1.0-57-amd64');
  assert.equal(newest?.Version, '6.1.192-3');
  assert.equal(newest?.['Built-Using'], 'linux (= 6.1.192-3)');
});

test('dpkg-query: installed version, or none', () => {
  assert.equal(parseInstalled(fixture('dpkg-query-apt.txt')), '2.6.1');
  assert.equal(parseInstalled(''), undefined);
  assert.equal(parseInstalled('deinstall ok config-files\t6.1.192-1\n'), undefined);
});

test('running 6.1.0-55 (6.1.192-1): apt offers linux-source-6.1 6.1.192-2 and -3, and linux-image-6.1.0-57-amd64', async () => {
  const calls: string[] = [];
  const view = await aptView({ release: '6.1.0-55-amd64', sourceVersion: '6.1.192-1' }, recordedApt(calls));
  assert.deepEqual(view, {
    running: {
      release: '6.1.0-55-amd64',
      series: '6.1',
      abi: 55,
      flavour: 'amd64',
      sourceVersion: '6.1.192-1',
      imagePackage: 'linux-image-6.1.0-55-amd64',
    },
    sourcePackage: 'linux-source-6.1',
    newerSourceVersions: ['6.1.192-2', '6.1.192-3'],
    targetSourceVersion: '6.1.192-3',
    newestImage: { package: 'linux-image-6.1.0-57-amd64', abi: 57, version: '6.1.192-3', builtFrom: '6.1.192-3' },
  });
  assert.ok(calls.every((c) => c.startsWith('apt-cache ') || c.startsWith('dpkg-query ')));
});

test('a kernel on the newest source has no target; a non-Debian release is NotApplicable', async () => {
  const view = await aptView({ release: '6.1.0-55-amd64', sourceVersion: '6.1.192-3' }, recordedApt());
  assert.deepEqual(view.newerSourceVersions, []);
  assert.equal(view.targetSourceVersion, undefined);
  await assert.rejects(aptView({ release: '6.18.44-fc-v669', sourceVersion: '1' }, recordedApt()), (e) => isSplicedError(e, 'NotApplicable'));
});

test('apt failing to answer is a BuildFailed naming the command', async () => {
  const failing = async () => ({ code: 100, stdout: '', stderr: 'E: Could not open lock file' });
  await assert.rejects(aptView({ release: '6.1.0-55-amd64', sourceVersion: '6.1.192-1' }, failing), (e) =>
    isSplicedError(e, 'BuildFailed') && /apt-cache madison linux-source-6.1 failed: E: Could not open lock/.test(e.message),
  );
});
