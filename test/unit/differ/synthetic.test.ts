// The differ on small C pairs compiled with gcc-12 (kernel-like flags, no kernel tree needed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffObjects, DiffResult } from '../../../src/build/diff';
import { findProblems } from '../../../src/build/safety';
import { compile } from './gcc';

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
