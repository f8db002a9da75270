import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isSplicedError } from '../../../src/errors';
import { parsePatch } from '../../../src/build/patch/patchfile';
import { patchCases } from '../../fixtures/patches/cases';

const FIXTURES = resolve(__dirname, '../../../../test/fixtures/patches');

function diff(path: string, body = '@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n', from = `a/${path}`, to = `b/${path}`): string {
  return `--- ${from}\n+++ ${to}\n${body}`;
}

function refusal(text: string): { kind: string; reason?: unknown } {
  try {
    parsePatch(text);
  } catch (err) {
    assert.ok(isSplicedError(err), `expected a SplicedError, got ${String(err)}`);
    return { kind: err.kind, reason: err.details.reason };
  }
  assert.fail('the patch was accepted');
}

test('a one-file patch: path stripped of a/, modified C file, line counts, sha256 of the text', () => {
  const text = diff('fs/proc/cmdline.c');
  const p = parsePatch(text);
  assert.equal(p.strip, 1);
  assert.deepEqual(p.files, [{ path: 'fs/proc/cmdline.c', change: 'modify', role: 'c', added: 1, removed: 1, diff: text }]);
  assert.equal(p.kernelText, text);
  assert.match(p.sha256, /^[0-9a-f]{64}$/);
  assert.notEqual(parsePatch(diff('fs/proc/cmdline.c', '@@ -1,3 +1,3 @@\n a\n-b\n+x\n d\n')).sha256, p.sha256);
});

test('several files, a new header and a deleted header, git format with timestamps and a preamble', () => {
  const text = [
    'From: someone\nSubject: [PATCH] three files\n\n---\n fs/x.c | 2 +-\n',
    'diff --git a/fs/x.c b/fs/x.c\nindex 1..2 100644\n',
    diff('fs/x.c', '@@ -1,2 +1,2 @@\n-old\n+new\n ctx\n', 'a/fs/x.c\t2024-01-01 00:00:00', 'b/fs/x.c\t2024-01-02 00:00:00'),
    'diff --git a/fs/new.h b/fs/new.h\nnew file mode 100644\n',
    diff('fs/new.h', '@@ -0,0 +1,2 @@\n+#define A 1\n+#define B 2\n', '/dev/null'),
    'diff --git a/fs/old.h b/fs/old.h\ndeleted file mode 100644\n',
    diff('fs/old.h', '@@ -1 +0,0 @@\n-#define C 3\n', 'a/fs/old.h', '/dev/null'),
    '-- \n2.39.2\n',
  ].join('');
  const files = parsePatch(text).files.map((f) => [f.path, f.change, f.role, f.added, f.removed]);
  assert.deepEqual(files, [
    ['fs/x.c', 'modify', 'c', 1, 1],
    ['fs/new.h', 'add', 'header', 2, 0],
    ['fs/old.h', 'delete', 'header', 0, 1],
  ]);
});

test('a removed line that starts with "-- " inside a hunk is not taken for a file header', () => {
  const body = '@@ -1,3 +1,2 @@\n a\n--- looks like a header\n+++ but is not\n';
  const p = parsePatch(diff('kernel/a.c', '@@ -1,3 +1,3 @@\n a\n---- x\n++++ y\n b\n') + diff('kernel/b.c', body));
  assert.deepEqual(p.files.map((f) => [f.path, f.added, f.removed]), [['kernel/a.c', 1, 1], ['kernel/b.c', 1, 1]]);
});

test('bare paths are applied with -p0', () => {
  assert.equal(parsePatch(diff('mm/util.c', undefined, 'mm/util.c', 'mm/util.c')).strip, 0);
});

test('assembly files are refused as UnsafePatch (assembly)', () => {
  assert.deepEqual(refusal(diff('arch/x86/lib/memcpy_64.S')), { kind: 'UnsafePatch', reason: 'assembly' });
  assert.deepEqual(refusal(diff('fs/proc/cmdline.c') + diff('arch/x86/entry/entry_64.S')), { kind: 'UnsafePatch', reason: 'assembly' });
});

test('paths outside the tree are refused', () => {
  assert.equal(refusal(diff('../etc/passwd')).kind, 'InvalidArgument');
  assert.equal(refusal(diff('fs/../../x.c')).kind, 'InvalidArgument');
  assert.equal(refusal(diff('x', undefined, '/etc/x', '/etc/x')).kind, 'InvalidArgument');
});

test('build-system files, renames and binary changes are refused with their reason', () => {
  assert.deepEqual(refusal(diff('fs/ext4/Makefile')), { kind: 'UnsafePatch', reason: 'build-system' });
  assert.deepEqual(refusal(diff('mm/Kconfig')), { kind: 'UnsafePatch', reason: 'build-system' });
  assert.deepEqual(refusal(diff('scripts/mod/modpost.c')), { kind: 'UnsafePatch', reason: 'build-system' });
  const rename = 'diff --git a/fs/a.c b/fs/b.c\nsimilarity index 100%\nrename from fs/a.c\nrename to fs/b.c\n';
  assert.deepEqual(refusal(rename), { kind: 'UnsafePatch', reason: 'unsupported-diff' });
  const binary = 'diff --git a/fs/a.c b/fs/a.c\nindex 1..2\nGIT binary patch\nliteral 1\n';
  assert.equal(refusal(binary + diff('fs/a.c')).reason, 'unsupported-diff');
});

test('malformed input is InvalidArgument: no diff, a hunk cut short, one file twice', () => {
  assert.equal(refusal('just some text\n').kind, 'InvalidArgument');
  assert.equal(refusal(diff('fs/a.c', '@@ -1,3 +1,3 @@\n a\n-b\n') + 'garbage\n').kind, 'InvalidArgument');
  assert.equal(refusal(diff('fs/a.c') + diff('fs/a.c')).kind, 'InvalidArgument');
  assert.equal(refusal(diff('fs/a.c', '@@ -1,3 +1,3 @@\n a\n')).kind, 'InvalidArgument', 'truncated at the end');
});

test('documentation and tools are not kernel code, and are left out of what is applied', () => {
  const git = 'diff --git a/kernel/a.c b/kernel/a.c\nindex 1..2 100644\n' + diff('kernel/a.c');
  const p = parsePatch(diff('Documentation/livepatch/livepatch.rst') + git + diff('tools/objtool/check.c'));
  assert.deepEqual(p.files.map((f) => f.role), ['other', 'c', 'other']);
  assert.equal(p.kernelText, git);
  assert.equal(parsePatch(diff('tools/objtool/check.c')).kernelText, '');
});

test('every fixture patch parses; the assembly one is refused', () => {
  const names = readdirSync(FIXTURES).filter((n) => n.endsWith('.patch'));
  assert.ok(names.length >= 15);
  for (const name of names) {
    const text = readFileSync(join(FIXTURES, name), 'utf8');
    if (/^Case: assembly$/m.test(text)) assert.equal(refusal(text).reason, 'assembly', name);
    else assert.ok(parsePatch(text).files.length >= 1, name);
  }
});

test('the fixture set covers the cases of the issue, each with an expected outcome and a check', () => {
  const cases = patchCases();
  const expected = new Map(cases.map((c) => [c.case, c.expect]));
  for (const c of ['string-change', 'logic-change', 'new-function', 'new-static-data', 'static-local', 'inlined-helper', 'warn', 'jump-label', 'module-change', 'two-files', 'warn-string', 'module-warn-string', 'module-tracepoint', 'new-global-across-files', 'module-not-loaded', 'debian-fix']) {
    assert.equal(expected.get(c), 'module', c);
  }
  assert.equal(expected.get('comment-only'), 'NoChange');
  for (const c of ['data-value-change', 'data-layout-change', 'init-change', 'assembly', 'kernel-table']) assert.equal(expected.get(c), 'UnsafePatch', c);
  for (const c of cases) assert.equal(c.check === 'none', c.expect !== 'module', c.file);
});
