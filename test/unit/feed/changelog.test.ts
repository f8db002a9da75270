import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { entriesBetween, filesNamedBy, parseChangelog } from '../../../src/sources/feed/changelog';

// An excerpt of linux-source-6.1 6.1.192-3's changelog.Debian.gz: the -3 and -2 entries whole, the -1 and 6.1.190-1
// entries with most of their upstream lines cut.
const EXCERPT = readFileSync(resolve(__dirname, '../../../../test/fixtures/feed/changelog-excerpt.txt'), 'utf8');

test('entries: version, urgency, date, bullet lines with their CVEs', () => {
  const entries = parseChangelog(EXCERPT);
  assert.deepEqual(entries.map((e) => e.version), ['6.1.192-3', '6.1.192-2', '6.1.192-1', '6.1.190-1']);
  const [three, two] = entries;
  assert.equal(three.urgency, 'high');
  assert.equal(three.distribution, 'bookworm-security');
  assert.equal(three.date, 'Thu, 26 Nov 2026 18:12:56 +0100');
  assert.equal(three.maintainer, 'Salvatore Bonaccorso <carnil@debian.org>');
  assert.deepEqual(three.lines, [
    { text: 'nfsd: preflight SEQUENCE replies before accepting a slot (CVE-2026-99362)', level: 1, cves: ['CVE-2026-99362'] },
  ]);
  assert.deepEqual(three.cves, ['CVE-2026-99362']);
  assert.deepEqual(two.lines.map((l) => l.text), ['ext4: fix NULL folio dereference in mballoc (Closes: #1154101)']);
  assert.deepEqual(two.cves, []);
});

test('continuation lines join their bullet; sub-items and maintainer groups are separate lines', () => {
  const one = parseChangelog(EXCERPT)[2];
  assert.equal(one.lines[0].text, 'New upstream stable update: https://www.kernel.org/pub/linux/kernel/v6.x/ChangeLog-6.1.191');
  assert.equal(one.lines[0].level, 1);
  const pinctrl = one.lines.find((l) => l.text.startsWith('[arm*] pinctrl'));
  assert.equal(pinctrl?.text, '[arm*] pinctrl: freescale: Fix a memory out of bounds when num_configs is 1');
  assert.equal(pinctrl?.level, 2);
  // The second upstream URL heads the next group of sub-items: it is not glued to the line before it.
  assert.ok(!one.lines.some((l) => l.text.includes('ChangeLog-6.1.192')));
  assert.deepEqual(one.lines.at(-1), {
    text: 'inet: reject unhashed sockets during established lookups (CVE-2026-99288)',
    level: 1,
    cves: ['CVE-2026-99288'],
  });
  assert.deepEqual(one.cves, [
    'CVE-2026-99228', 'CVE-2026-99255', 'CVE-2026-99254', 'CVE-2026-100080', 'CVE-2026-100081', 'CVE-2026-100082',
    'CVE-2026-99286', 'CVE-2026-99287', 'CVE-2026-99288',
  ]);
  const wrapped = parseChangelog(EXCERPT)[3].lines.find((l) => l.text.startsWith('ALSA: hda'));
  assert.deepEqual(wrapped?.cves, ['CVE-2025-40097']);
});

test('the entries strictly after the running version, up to the target', () => {
  const entries = parseChangelog(EXCERPT);
  assert.deepEqual(entriesBetween(entries, '6.1.192-1', '6.1.192-2').map((e) => e.version), ['6.1.192-2']);
  assert.deepEqual(entriesBetween(entries, '6.1.192-1', '6.1.192-3').map((e) => e.version), ['6.1.192-3', '6.1.192-2']);
  assert.deepEqual(entriesBetween(entries, '6.1.190-1', '6.1.192-1').map((e) => e.version), ['6.1.192-1']);
  assert.deepEqual(entriesBetween(entries, '6.1.192-3', '6.1.192-3'), []);
});

test('a line names a delta file by path or by file name, not by a longer name that contains it', () => {
  const line = (text: string) => ({ text, level: 1, cves: [] });
  const files = ['fs/ext4/mballoc.c', 'fs/nfsd/nfs4state.c', 'include/uapi/linux/stddef.h'];
  assert.deepEqual(filesNamedBy(line('uapi: stddef.h: Fix header guard location'), files), ['include/uapi/linux/stddef.h']);
  assert.deepEqual(filesNamedBy(line('ext4: fix a leak in fs/ext4/mballoc.c'), files), ['fs/ext4/mballoc.c']);
  assert.deepEqual(filesNamedBy(line('ext4: fix NULL folio dereference in mballoc'), files), []);
  assert.deepEqual(filesNamedBy(line('fix xmballoc.c'), files), []);
});
