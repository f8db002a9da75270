// The patch forms people publish, read against a small fake file set standing in for the kernel tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSplicedError } from '../../../src/errors';
import { parsePatch, TreeLookup } from '../../../src/build/patch/patchfile';
import { lineMapOf } from '../../../src/build/differ/lines';

const TREE_FILES = [
  'Makefile',
  'fs/proc/meminfo.c',
  'fs/proc/uptime.c',
  'fs/proc/version.c',
  'fs/proc/internal.h',
  'kernel/fork.c',
  'kernel/signal.c',
  'arch/x86/kernel/signal.c',
  'include/linux/mm.h',
  'lib/string.c',
  'tools/lib/string.c',
];

/** A TreeLookup over a file list: its files, and every directory above one of them. */
function fakeTree(files: string[]): TreeLookup {
  const dirs = new Set(files.flatMap((f) => f.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  return (rel, kind) => (kind === 'dir' ? dirs.has(rel) : files.includes(rel));
}
const tree = fakeTree(TREE_FILES);

const MEMINFO_HUNK = [
  '@@ -55,7 +55,7 @@',
  ' \tsreclaimable = global_node_page_state_pages(NR_SLAB_RECLAIMABLE_B);',
  ' \tsunreclaim = global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B);',
  ' ',
  '-\tshow_val_kb(m, "MemTotal:       ", i.totalram);',
  '+\tshow_val_kb(m, "MemTotal(s):    ", i.totalram);',
  ' \tshow_val_kb(m, "MemFree:        ", i.freeram);',
  ' \tshow_val_kb(m, "MemAvailable:   ", available);',
  ' \tshow_val_kb(m, "Buffers:        ", i.bufferram);',
  '',
].join('\n');

const UPTIME_HUNK = [
  '@@ -27,6 +27,7 @@',
  ' ',
  ' \tktime_get_boottime_ts64(&uptime);',
  ' \ttimens_add_boottime(&uptime);',
  '+\tuptime.tv_sec += 100000000;',
  ' ',
  ' \tidle.tv_sec = div_u64_rem(idle_nsec, NSEC_PER_SEC, &rem);',
  ' \tidle.tv_nsec = rem;',
  '',
].join('\n');

function refusal(text: string, lookup?: TreeLookup): { kind: string; reason?: unknown; message: string } {
  try {
    parsePatch(text, lookup);
  } catch (err) {
    assert.ok(isSplicedError(err), `expected a SplicedError, got ${String(err)}`);
    return { kind: err.kind, reason: err.details.reason, message: err.message };
  }
  assert.fail('the patch was accepted');
}

/** What the builder applies: the level and the files, both read without the tree and against it. */
function reading(text: string): { strip: number; files: [string, string][] } {
  const layout = parsePatch(text);
  const confirmed = parsePatch(text, tree);
  assert.equal(layout.strip, confirmed.strip, 'the layout heuristic and the tree agree');
  return { strip: confirmed.strip, files: confirmed.files.map((f) => [f.path, f.change]) };
}

test('kpatch style: src.orig/ and src/ prefixes are -p1, not a rename', () => {
  const text = `Index: src/fs/proc/meminfo.c\n===================================================================\n--- src.orig/fs/proc/meminfo.c\n+++ src/fs/proc/meminfo.c\n${MEMINFO_HUNK}`;
  assert.deepEqual(reading(text), { strip: 1, files: [['fs/proc/meminfo.c', 'modify']] });
});

test('diff -urN of linux-6.1.orig/ and linux-6.1/: -p1, with timestamps, a new file as an epoch-dated -0,0 diff', () => {
  const text = [
    'diff -urN linux-6.1.orig/fs/proc/meminfo.c linux-6.1/fs/proc/meminfo.c',
    '--- linux-6.1.orig/fs/proc/meminfo.c\t2024-06-01 10:00:00.000000000 +0200',
    '+++ linux-6.1/fs/proc/meminfo.c\t2024-06-02 11:30:12.123456789 +0200',
    MEMINFO_HUNK.trimEnd(),
    'diff -urN linux-6.1.orig/fs/proc/spliced.h linux-6.1/fs/proc/spliced.h',
    '--- linux-6.1.orig/fs/proc/spliced.h\t1970-01-01 01:00:00.000000000 +0100',
    '+++ linux-6.1/fs/proc/spliced.h\t2024-06-02 11:30:12.123456789 +0200',
    '@@ -0,0 +1,2 @@',
    '+/* SPDX-License-Identifier: GPL-2.0 */',
    '+#define SPLICED 1',
    '',
  ].join('\n');
  assert.deepEqual(reading(text), { strip: 1, files: [['fs/proc/meminfo.c', 'modify'], ['fs/proc/spliced.h', 'add']] });
});

test('deeper prefixes: t2/linux-source-6.1/ is -p2; old and new prefixes may differ in depth of meaning', () => {
  const text = `--- t2/linux-source-6.1/fs/proc/uptime.c\n+++ t2/linux-source-6.1/fs/proc/uptime.c\n${UPTIME_HUNK}`;
  assert.deepEqual(reading(text), { strip: 2, files: [['fs/proc/uptime.c', 'modify']] });
  const mixed = `--- old/fs/proc/uptime.c\n+++ patched-tree/fs/proc/uptime.c\n${UPTIME_HUNK}`;
  assert.deepEqual(reading(mixed), { strip: 1, files: [['fs/proc/uptime.c', 'modify']] });
});

test('git diff with a/ b/ is -p1; arch/x86/kernel/signal.c is not read as kernel/signal.c', () => {
  const text = [
    'diff --git a/arch/x86/kernel/signal.c b/arch/x86/kernel/signal.c',
    'index 1f2e3d4c5b6a..6a5b4c3d2e1f 100644',
    '--- a/arch/x86/kernel/signal.c',
    '+++ b/arch/x86/kernel/signal.c',
    '@@ -10,3 +10,3 @@',
    ' a',
    '-b',
    '+c',
    ' d',
    '',
  ].join('\n');
  assert.deepEqual(reading(text), { strip: 1, files: [['arch/x86/kernel/signal.c', 'modify']] });
  assert.equal(reading(text.replace(/ [ab]\//g, ' ')).strip, 0, 'git diff --no-prefix');
});

const FORMAT_PATCH = (n: number, of: number, subject: string, cve: string, file: string, hunk: string) =>
  [
    `From 8c7a1f0e2b3d4c5a6b7e8f9012345678abcdef0${n} Mon Sep 17 00:00:00 2001`,
    'From: A Developer <dev@example.org>',
    `Date: Tue, 4 Jun 2024 12:0${n}:00 +0200`,
    `Subject: [PATCH ${n}/${of}] ${subject}`,
    '',
    `Fixes ${cve}.`,
    '',
    'Signed-off-by: A Developer <dev@example.org>',
    '---',
    ` ${file} | 2 +-`,
    ' 1 file changed, 1 insertion(+), 1 deletion(-)',
    '',
    `diff --git a/${file} b/${file}`,
    'index 0123456789ab..ba9876543210 100644',
    `--- a/${file}`,
    `+++ b/${file}`,
    hunk.trimEnd(),
    '-- ',
    '2.39.2',
    '',
    '',
  ].join('\n');

test('a git format-patch mail: headers and diffstat are not diff; Subject and CVE make the header', () => {
  const mail = FORMAT_PATCH(1, 1, 'proc: rename the MemTotal label', 'CVE-2024-11111', 'fs/proc/meminfo.c', MEMINFO_HUNK);
  const p = parsePatch(mail, tree);
  assert.equal(p.strip, 1);
  assert.deepEqual(p.files.map((f) => [f.path, f.added, f.removed]), [['fs/proc/meminfo.c', 1, 1]]);
  assert.deepEqual(p.header, { description: 'proc: rename the MemTotal label', cves: ['CVE-2024-11111'] });
  assert.ok(!p.kernelText.includes('Signed-off-by') && !p.kernelText.includes('2.39.2'));
});

test('an mbox of two mails: both applied in order, descriptions joined, CVEs of each', () => {
  const mbox =
    FORMAT_PATCH(1, 2, 'proc: rename the MemTotal label', 'CVE-2024-11111', 'fs/proc/meminfo.c', MEMINFO_HUNK) +
    FORMAT_PATCH(2, 2, 'proc: shift the uptime', 'CVE-2024-22222', 'fs/proc/uptime.c', UPTIME_HUNK);
  const p = parsePatch(mbox, tree);
  assert.deepEqual(p.files.map((f) => f.path), ['fs/proc/meminfo.c', 'fs/proc/uptime.c']);
  assert.deepEqual(p.header, { description: 'proc: rename the MemTotal label; proc: shift the uptime', cves: ['CVE-2024-11111', 'CVE-2024-22222'] });
  assert.ok(p.kernelText.indexOf('MemTotal(s)') < p.kernelText.indexOf('100000000'), 'in the order of the series');
});

test('a series may change one file in two mails: one file, both diffs in order, line maps composed', () => {
  const second = [
    '@@ -56,5 +56,5 @@',
    ' \tsunreclaim = global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B);',
    ' ',
    '-\tshow_val_kb(m, "MemTotal(s):    ", i.totalram);',
    '+\tshow_val_kb(m, "MemTotal(t):    ", i.totalram);',
    ' \tshow_val_kb(m, "MemFree:        ", i.freeram);',
    ' \tshow_val_kb(m, "MemAvailable:   ", available);',
    '',
  ].join('\n');
  const addLine = ['@@ -1,2 +1,3 @@', ' // SPDX-License-Identifier: GPL-2.0', '+/* spliced */', ' #include <linux/fs.h>', ''].join('\n');
  const mbox =
    FORMAT_PATCH(1, 2, 'one', 'CVE-2024-1', 'fs/proc/meminfo.c', addLine) + FORMAT_PATCH(2, 2, 'two', 'CVE-2024-2', 'fs/proc/meminfo.c', second);
  const p = parsePatch(mbox, tree);
  assert.deepEqual(p.files.map((f) => [f.path, f.change, f.added, f.removed]), [['fs/proc/meminfo.c', 'modify', 2, 1]]);
  const map = lineMapOf(p.files[0].diff);
  assert.equal(map(1), 1);
  assert.equal(map(2), 3, 'moved by the first mail');
  assert.equal(map(57), undefined, 'changed by the second mail (line 58 after the first)');
  assert.equal(map(58), 59);
  // Within one mail a file twice is still an error.
  assert.equal(refusal(`--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n${MEMINFO_HUNK}`.repeat(2), tree).kind, 'InvalidArgument');
});

test('CRLF line ends are read as LF; what is applied has LF ends and the hash is of the bytes given', () => {
  const lf = `--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n${MEMINFO_HUNK}`;
  const crlf = lf.replace(/\n/g, '\r\n');
  const p = parsePatch(crlf, tree);
  assert.deepEqual(p.files.map((f) => [f.path, f.added, f.removed]), [['fs/proc/meminfo.c', 1, 1]]);
  assert.equal(p.kernelText, lf);
  assert.notEqual(p.sha256, parsePatch(lf, tree).sha256);
});

test('the tree decides: paths not in the tree at any level are BuildFailed; an ambiguous prefix is InvalidArgument', () => {
  const missing = refusal(`--- a/fs/proc/nosuch.c\n+++ b/fs/proc/nosuch.c\n${UPTIME_HUNK}`, tree);
  assert.equal(missing.kind, 'BuildFailed');
  assert.match(missing.message, /no strip level/);
  // tools/lib/string.c and lib/string.c both exist: a diff of tools/tools/lib/string.c could mean either.
  const ambiguous = refusal(`--- tools/tools/lib/string.c\n+++ tools/tools/lib/string.c\n${UPTIME_HUNK}`, tree);
  assert.equal(ambiguous.kind, 'InvalidArgument');
  assert.match(ambiguous.message, /-p1 \(tools\/lib\/string\.c\) and -p2 \(lib\/string\.c\)/);
  // Without a tree, a name outside the kernel's layout is refused at once.
  assert.equal(refusal(`--- a/nonsense/x.c\n+++ b/nonsense/x.c\n${UPTIME_HUNK}`).kind, 'InvalidArgument');
});

test('a new file in a directory the patch creates goes by the level of its sibling files', () => {
  const text = [
    `--- linux-6.1.orig/fs/proc/uptime.c\n+++ linux-6.1/fs/proc/uptime.c\n${UPTIME_HUNK}`,
    '--- /dev/null\n+++ linux-6.1/fs/proc/newdir/x.h\n@@ -0,0 +1 @@\n+#define X 1\n',
  ].join('');
  assert.deepEqual(reading(text), { strip: 1, files: [['fs/proc/uptime.c', 'modify'], ['fs/proc/newdir/x.h', 'add']] });
});

test('symlinks, mode changes and binary patches are refused by name before anything reaches patch', () => {
  const git = (path: string, extended: string, body = '') => `diff --git a/${path} b/${path}\n${extended}${body}`;
  const cases: [string, RegExp][] = [
    [git('fs/proc/link.h', 'new file mode 120000\nindex 0000000..1234567\n', '--- /dev/null\n+++ b/fs/proc/link.h\n@@ -0,0 +1 @@\n+internal.h\n\\ No newline at end of file\n'), /symbolic link/],
    [git('fs/proc/internal.h', 'index 1234567..7654321 120000\n', '--- a/fs/proc/internal.h\n+++ b/fs/proc/internal.h\n@@ -1 +1 @@\n-a\n+b\n'), /symbolic link/],
    [git('fs/proc/uptime.c', 'old mode 100644\nnew mode 100755\n'), /mode/],
    [git('fs/proc/uptime.c', 'old mode 100644\nnew mode 100755\nindex 1..2\n', `--- a/fs/proc/uptime.c\n+++ b/fs/proc/uptime.c\n${UPTIME_HUNK}`), /mode/],
    [git('fs/proc/logo.bin', 'new file mode 100644\nindex 0000000..e69de29\nGIT binary patch\nliteral 3\nKcmZQzWMT#Y01f~L\n\nliteral 0\nHcmV?d00001\n\n'), /binary/],
    ['Binary files linux-6.1.orig/fs/proc/logo.bin and linux-6.1/fs/proc/logo.bin differ\n', /binary/],
  ];
  for (const [text, what] of cases) {
    const r = refusal(text + `--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n${MEMINFO_HUNK}`, tree);
    assert.deepEqual([r.kind, r.reason], ['UnsafePatch', 'unsupported-diff'], text);
    assert.match(r.message, what);
  }
});
