// The differ on small C pairs compiled with gcc-12 (kernel-like flags, no kernel tree needed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffObjects, DiffResult } from '../../../src/build/differ/diff';
import { findProblems } from '../../../src/build/differ/safety';
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

// A PCI quirk as DECLARE_PCI_FIXUP_FINAL() declares it on x86: a function and an anonymous entry in the table the
// PCI core walks (at boot and at every resume), written by top-level asm with a PC-relative hook.
const quirk = (name: string) => `static void ${name}(void *dev) { mark(dev); }
static void *__addressable_${name} __attribute__((__used__, __section__(".discard.addressable"))) = (void *)${name};
asm(".section .pci_fixup_final, \\"a\\"\\n.balign 16\\n.short 0x8086, 0x1234\\n.long 0, 0\\n.long ${name} - .\\n.previous\\n");
`;
const QUIRKS = `extern void mark(void *);\nint keep(int x) { return x + 1; }\n`;

test('a new PCI quirk is refused as a kernel table entry, not answered NoChange', () => {
  const problems = findProblems(diff(QUIRKS, QUIRKS + quirk('quirk_new')));
  assert.deepEqual(problems.map((p) => `${p.reason}:${p.symbol}`), ['kernel-table:.pci_fixup_final']);
  assert.match(problems[0].detail, /quirk_new/);
});

test('a removed PCI quirk is refused: the running table still calls the function', () => {
  const problems = findProblems(diff(QUIRKS + quirk('quirk_old'), QUIRKS));
  assert.deepEqual(problems.map((p) => `${p.reason}:${p.symbol}`).sort(), ['kernel-table:.pci_fixup_final', 'removed-function:quirk_old']);
});

test('a static helper that disappears into its changed caller is not a problem', () => {
  const pre = `extern int report(int);\n__attribute__((noinline)) static int helper(int x) { return report(x * 3); }\nint caller(int x) { return helper(x) + 1; }\n`;
  const post = `extern int report(int);\nint caller(int x) { return report(x * 3) + 2; }\n`;
  const d = diff(pre, post);
  assert.deepEqual(touched(d), ['caller:changed', 'helper:removed']);
  assert.deepEqual(findProblems(d), []);
});
