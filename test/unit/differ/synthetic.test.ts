// The differ on small C pairs compiled with gcc-12 (kernel-like flags, no kernel tree needed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffObjects, DiffResult } from '../../../src/build/diff';
import { findProblems } from '../../../src/build/safety';

const FLAGS = ['-O2', '-w', '-ffunction-sections', '-fdata-sections', '-mcmodel=kernel', '-fno-pic', '-pg', '-mfentry', '-mrecord-mcount', '-c'];

function compile(source: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'differ-synthetic-'));
  writeFileSync(join(dir, 'unit.c'), source);
  try {
    execFileSync('gcc-12', [...FLAGS, 'unit.c', '-o', 'unit.o'], { cwd: dir });
    return readFileSync(join(dir, 'unit.o'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function diff(pre: string, post: string): DiffResult {
  return diffObjects(compile(pre), compile(post));
}

function touched(d: DiffResult): string[] {
  return [...d.functions, ...d.data].filter((f) => f.status !== 'unchanged').map((f) => `${f.name.replace(/\.\d+$/, '.N')}:${f.status}`).sort();
}

const BASE = `
extern int report(const char *fmt, ...);
int limit = 10;
int first(int x) { static int calls; calls++; return report("first %d\\n", x + calls); }
int second(int x) { static int calls; calls += 2; return report("second %d\\n", x * calls + limit); }
`;

test('identical sources: nothing changed', () => {
  assert.deepEqual(touched(diff(BASE, BASE)), []);
});

test('a same-length string change is found through the relocation target', () => {
  assert.deepEqual(touched(diff(BASE, BASE.replace('"first %d', '"FIRST %d'))), ['first:changed']);
});

test('function-local statics renumbered by a new one earlier in the file still match', () => {
  const post = BASE.replace('int first(int x) {', 'int zeroth(void) { static int calls; return ++calls; }\nint first(int x) {');
  assert.deepEqual(touched(diff(BASE, post)), ['calls.N:new', 'zeroth:new']);
});

test('a changed initial value is data-init; a new variable is allowed', () => {
  const changed = diff(BASE, BASE.replace('limit = 10', 'limit = 11'));
  assert.deepEqual(findProblems(changed).map((p) => `${p.reason}:${p.symbol}`), ['data-init:limit']);
  const added = diff(BASE, BASE.replace('int limit = 10;', 'int limit = 10;\nint extra = 5;'));
  assert.deepEqual(touched(added), ['extra:new']);
  assert.deepEqual(findProblems(added), []);
});

test('a function without the __fentry__ call (notrace) is not-traceable', () => {
  const pre = BASE.replace('int second(', '__attribute__((no_instrument_function)) int second(');
  const post = pre.replace('calls += 2', 'calls += 3');
  assert.deepEqual(findProblems(diff(pre, post)).map((p) => `${p.reason}:${p.symbol}`), ['not-traceable:second']);
});
