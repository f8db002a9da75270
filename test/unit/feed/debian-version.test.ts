import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { compareVersions, newestVersion } from '../../../src/sources/feed/debian-version';

// Real versions (linux-source-6.1 in bookworm and bookworm-security, the signed image's source, gcc-12, apt)
// and the corners of dpkg's rules: epochs, "~" before anything, letters before other symbols, leading zeros.
const VERSIONS = [
  '6.1.192-3', '6.1.192-2', '6.1.192-1', '6.1.190-1', '6.1.187-1', '6.1.176-1', '6.1.170-3', '6.1.192+3', '1:6.1.0',
  '6.1.192-1~bpo11+1', '6.1.192-1+deb12u1', '6.1.192~rc1-1', '6.1.192a-1', '6.1.192.0-1', '6.1.0192-1',
  '12.2.0-14+deb12u1', '12.2.0-14', '2.6.1', '2.6', '2.6.1~', '0:2.6.1', '1.0-1', '1.0-1.1', '1.0-1a', '1.0-10',
  '1.0-9', '1.0+-1', '1.0.-1', '1.0~~a-1', '1.0~-1', '1.0a-1', '1.0A-1',
];

function dpkgSays(a: string, relation: 'lt' | 'eq', b: string): boolean {
  return spawnSync('dpkg', ['--compare-versions', a, relation, b]).status === 0;
}

test('sorting real versions gives dpkg --compare-versions\' order, pair by pair', () => {
  execFileSync('dpkg', ['--version']);
  const sorted = [...VERSIONS].sort(compareVersions);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    const relation = compareVersions(a, b) === 0 ? 'eq' : 'lt';
    assert.ok(dpkgSays(a, relation, b), `dpkg disagrees: ${a} ${relation} ${b}`);
  }
});

test('the orderings the feed relies on', () => {
  assert.ok(compareVersions('6.1.192-2', '6.1.192-1') > 0);
  assert.ok(compareVersions('6.1.192-1', '6.1.190-1') > 0);
  assert.ok(compareVersions('6.1.192~rc1-1', '6.1.192-1') < 0);
  assert.ok(compareVersions('6.1.192-1+deb12u1', '6.1.192-1') > 0);
  assert.ok(compareVersions('1:6.1.0', '6.1.192-3') > 0);
  assert.equal(compareVersions('0:2.6.1', '2.6.1'), 0);
  assert.equal(compareVersions('6.1.0192-1', '6.1.192-1'), 0);
  assert.equal(newestVersion(['6.1.190-1', '6.1.192-3', '6.1.192-1']), '6.1.192-3');
  assert.equal(newestVersion([]), undefined);
});
