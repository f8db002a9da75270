import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeHeaders, parsePatchHeader } from '../../../src/build/patch/header';
import { isSplicedError } from '../../../src/errors';

const DIFF = '--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-a\n+b\n';

test("git format-patch: Subject without its [PATCH] tag, folded lines joined, CVEs of the message, Spliced-Version", () => {
  const patch = [
    'From 1234abcd Mon Sep 17 00:00:00 2001',
    'From: A Developer <dev@example.org>',
    'Subject: [PATCH 1/2] ext4: fix a NULL folio dereference in',
    ' mballoc',
    '',
    'This fixes CVE-2025-12345 and cve-2024-1234 (again: CVE-2025-12345).',
    '',
    'Spliced-Version: 6.1.192-2',
    '---',
    ' fs/ext4/mballoc.c | 2 +-',
    '',
    'diff --git a/fs/ext4/mballoc.c b/fs/ext4/mballoc.c',
    DIFF,
  ].join('\n');
  assert.deepEqual(parsePatchHeader(patch), {
    description: 'ext4: fix a NULL folio dereference in mballoc',
    cves: ['CVE-2025-12345', 'CVE-2024-1234'],
    version: '6.1.192-2',
  });
});

test('without a Subject the first non-empty line before the diff describes the patch', () => {
  assert.deepEqual(parsePatchHeader(`\n\n  make meminfo say hello  \nmore text\n${DIFF}`), { description: 'make meminfo say hello', cves: [] });
});

test('CVE ids and Spliced-Version in the diff itself are not the header', () => {
  const patch = `Subject: x\n${DIFF.replace('+b', '+Spliced-Version: 9.9-9 CVE-2020-0001')}`;
  assert.deepEqual(parsePatchHeader(patch), { description: 'x', cves: [] });
});

test('a bare diff has no description', () => {
  assert.deepEqual(parsePatchHeader(DIFF), { cves: [] });
});

test('a Spliced-Version that is not a Debian version is refused', () => {
  assert.throws(
    () => parsePatchHeader(`Subject: x\nSpliced-Version: 6.1.192-2; rm -rf /\n${DIFF}`),
    (err) => isSplicedError(err, 'InvalidArgument') && /Spliced-Version/.test(err.message),
  );
});

test('a series: descriptions joined, CVEs once each, one Spliced-Version (two different ones are refused)', () => {
  assert.deepEqual(
    mergeHeaders([{ description: 'a', cves: ['CVE-2024-1'], version: '6.1.192-2' }, { cves: ['CVE-2024-2', 'CVE-2024-1'] }, { description: 'c', cves: [], version: '6.1.192-2' }]),
    { description: 'a; c', cves: ['CVE-2024-1', 'CVE-2024-2'], version: '6.1.192-2' },
  );
  assert.throws(
    () => mergeHeaders([{ cves: [], version: '6.1.192-1' }, { cves: [], version: '6.1.192-2' }]),
    (err) => isSplicedError(err, 'InvalidArgument') && /6\.1\.192-1, 6\.1\.192-2/.test(err.message),
  );
});
