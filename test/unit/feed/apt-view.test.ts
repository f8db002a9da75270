import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseInstalled, parseMadison, parseStanzas } from '../../../src/sources/feed/apt-output';
import { aptView, imageBuiltFrom } from '../../../src/sources/feed/apt-view';
import { isSplicedError } from '../../../src/errors';
import { APT_FIXTURES, recordedApt } from './recorded-apt';

/** What the recorded archive holds: image ABI → version (and the linux version it was built from). */
const IMAGE_VERSIONS: Record<number, string> = {
  57: '6.1.192-3', 56: '6.1.192-2', 55: '6.1.192-1', 54: '6.1.190-1', 53: '6.1.187-1', 52: '6.1.180-1',
  51: '6.1.177-1', 50: '6.1.176-1', 49: '6.1.174-1', 48: '6.1.172-1', 47: '6.1.170-3',
};

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

test('dpkg-query: installed packages, their versions and what an image was built from; removed ones are not installed', () => {
  assert.deepEqual(parseInstalled(fixture('dpkg-query-apt.txt')), new Map([['apt', { version: '2.6.2' }]]));
  assert.equal(parseInstalled('').size, 0);
  const lines = [
    'linux-image-6.1.0-55-amd64\tdeinstall ok config-files\t6.1.192-1\tlinux (= 6.1.192-1)',
    'linux-image-6.1.0-56-amd64\tinstall ok installed\t6.1.192-2\tlinux (= 6.1.192-2)',
  ];
  assert.deepEqual(parseInstalled(lines.join('\n') + '\n'), new Map([['linux-image-6.1.0-56-amd64', { version: '6.1.192-2', builtFrom: '6.1.192-2' }]]));
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
    images: [57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47].map((abi) => ({
      package: `linux-image-6.1.0-${abi}-amd64`,
      abi,
      version: IMAGE_VERSIONS[abi],
      builtFrom: IMAGE_VERSIONS[abi],
    })),
  });
  assert.equal(imageBuiltFrom(view, '6.1.192-2')?.package, 'linux-image-6.1.0-56-amd64');
  assert.equal(imageBuiltFrom(view, '6.1.192-3')?.package, 'linux-image-6.1.0-57-amd64');
  assert.equal(imageBuiltFrom(view, '6.1.999-1'), undefined);
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
