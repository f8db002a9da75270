// Run-pre on real code without a kernel tree: reduced pre objects of real functions of Debian's 6.1.0-56 build and
// that kernel's code of those functions (test/fixtures/runpre, made by make.ts there), both as the vmlinux file has
// it and as the running kernel rewrites it at boot (__fentry__ nop, return thunk `ret`, jump labels toggled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DiffResult } from '../../../src/build/differ/diff';
import { loadObject } from '../../../src/build/differ/object';
import { parseKallsyms } from '../../../src/build/module/symbols';
import { runPreCheck } from '../../../src/build/runpre/check';
import type { RunningKernel } from '../../../src/build/runpre/sources';
import { isSplicedError } from '../../../src/errors';
import type { TargetCode } from '../../fixtures/runpre/make';

const FIXTURES = resolve(__dirname, '../../../../test/fixtures/runpre');

/** The fixture's target code as a running kernel: its System.map lines as kallsyms, its code, file or live form. */
function targetOf(name: string, form: 'file' | 'live', edit: (code: Buffer, address: bigint) => void = () => undefined): RunningKernel {
  const target = JSON.parse(readFileSync(resolve(FIXTURES, `${name}.target.json`), 'utf8')) as TargetCode;
  const index = parseKallsyms(target.systemMap);
  const code = target.code.map((c) => ({ address: BigInt('0x' + c.address), bytes: Buffer.from(c[form], 'hex') }));
  for (const c of code) edit(c.bytes, c.address);
  return {
    entriesOf: (object, symbol) => index.get(object)?.get(symbol) ?? [],
    covers: (object) => object === target.object,
    absoluteSlide: 0n,
    read(address, length) {
      const c = code.find((c) => address >= c.address && address + BigInt(length) <= c.address + BigInt(c.bytes.length));
      return c && c.bytes.subarray(Number(address - c.address), Number(address - c.address) + length);
    },
  };
}

/** Run-pre of `functions` of the fixture's object, as a build runs it on the functions a patch changes. */
function check(name: string, functions: string[], kernel: RunningKernel, target = 'vmlinux') {
  const pre = loadObject(readFileSync(resolve(FIXTURES, `${name}.o`)));
  const changed = functions.map((f) => ({ name: f, status: 'changed', pre: pre.functions.find((s) => s.name === f)! }));
  return runPreCheck({ pre, functions: changed } as unknown as DiffResult, target, kernel);
}

test('a tail call is e9 + R_X86_64_PLT32 in the object and eb (jmp rel8) in vmlinux: the same jump', () => {
  const pre = loadObject(readFileSync(resolve(FIXTURES, 'short-jmp.o')));
  const fn = pre.functions.find((f) => f.name === 'sched_debug_next')!;
  const code = pre.elf.sectionData(pre.sections[fn.shndx]).subarray(Number(fn.value), Number(fn.value) + fn.size);
  const kernel = targetOf('short-jmp', 'file');
  const [entry] = kernel.entriesOf('vmlinux', 'sched_debug_next');
  const running = kernel.read(entry.address, fn.size)!;
  assert.equal(code[fn.size - 5], 0xe9, 'the object ends in jmp rel32');
  assert.equal(running[fn.size - 5], 0xeb, 'vmlinux has jmp rel8 there');
  const result = check('short-jmp', ['sched_debug_next'], kernel);
  assert.deepEqual(result.functions.map((f) => [f.name, f.address]), [['sched_debug_next', entry.address]]);
  assert.equal(result.observed.get('sched_debug_start'), kernel.entriesOf('vmlinux', 'sched_debug_start')[0].address);
});

test('a short jmp to another place is a mismatch at the jump', () => {
  // sched_debug_next ends in `eb xx` to sched_debug_start: point it one byte further.
  const kernel = targetOf('short-jmp', 'file', (code) => {
    const at = code.indexOf(0xeb);
    code[at + 1]++;
  });
  assert.throws(() => check('short-jmp', ['sched_debug_next'], kernel), (e) => isSplicedError(e, 'RunPreMismatch') && e.details.function === 'sched_debug_next');
});

test('a conditional jump to another function is 0f 85 + relocation in the object and 75 xx when linked in one .text', () => {
  const kernel = targetOf('short-jcc', 'file');
  const result = check('short-jcc', ['check_and_release'], kernel);
  assert.deepEqual(result.functions.map((f) => f.name), ['check_and_release']);
  assert.equal(result.observed.get('release_it'), kernel.entriesOf('vmlinux', 'release_it')[0].address);
  // Another condition (74: je) to the same place is not the same code.
  const je = targetOf('short-jcc', 'file', (code) => (code[2] = 0x74));
  assert.throws(() => check('short-jcc', ['check_and_release'], je), (e) => isSplicedError(e, 'RunPreMismatch') && e.details.offset === 2);
});

test('a per-CPU reference (R_X86_64_PC32 to this_cpu_off) resolves to its per-CPU offset, with 64-bit wrap-around', () => {
  const result = check('per-cpu', ['xen_setup_cpu_clockevents'], targetOf('per-cpu', 'file'));
  assert.equal(result.observed.get('this_cpu_off'), 0x199e8n);
});

test('of 16 running cpumask_weight with the same code, the one among core.o\'s other functions is told apart by position', () => {
  const kernel = targetOf('duplicate-by-position', 'file');
  const copies = kernel.entriesOf('vmlinux', 'cpumask_weight');
  assert.equal(copies.length, 16);
  const neighbour = kernel.entriesOf('vmlinux', 'single_task_running')[0].address;
  const result = check('duplicate-by-position', ['cpumask_weight'], kernel);
  const [match] = result.functions;
  const nearest = [...copies].sort((a, b) => Number((a.address > neighbour ? a.address - neighbour : neighbour - a.address) - (b.address > neighbour ? b.address - neighbour : neighbour - b.address)))[0];
  assert.equal(match.address, nearest.address);
  assert.equal(match.sympos, copies.indexOf(nearest) + 1);
});

for (const form of ['file', 'live'] as const) {
  test(`__fentry__, jump label, static call and return thunk sites match the ${form === 'file' ? 'vmlinux file' : 'boot-rewritten'} code`, () => {
    const result = check('boot-sites', ['force_schedstat_enabled', 'call_trace_sched_update_nr_running'], targetOf('boot-sites', form));
    assert.deepEqual(result.functions.map((f) => f.name), ['force_schedstat_enabled', 'call_trace_sched_update_nr_running']);
  });
}

test('the boot-rewritten forms are the kernel\'s: fentry nop5, `ret; int3`, the jump label toggled', () => {
  const [entry] = targetOf('boot-sites', 'file').entriesOf('vmlinux', 'force_schedstat_enabled');
  const file = targetOf('boot-sites', 'file').read(entry.address, 17)!;
  const live = targetOf('boot-sites', 'live').read(entry.address, 17)!;
  assert.equal(file.subarray(0, 5).toString('hex').slice(0, 2), 'e8');
  assert.equal(live.subarray(0, 5).toString('hex'), '0f1f440000');
  assert.notDeepEqual(file.subarray(5), live.subarray(5));
  assert.ok(live.includes(Buffer.from('c3cccccccc', 'hex')));
});

test("alignment padding inside a function (inline assembly `.align`) may differ in length: xor.ko's xor_sse_3", () => {
  const kernel = targetOf('alignment-padding', 'file');
  const result = check('alignment-padding', ['xor_sse_3'], kernel, 'xor');
  assert.deepEqual(result.functions.map((f) => f.name), ['xor_sse_3']);
});

test("a site holds only the forms the kernel writes there: a weak default's sites do not match the override's code", () => {
  // arch_report_meminfo in meminfo.o is `call __fentry__; jmp __x86_return_thunk`; vmlinux runs x86's own.
  assert.throws(() => check('weak-overridden', ['arch_report_meminfo'], targetOf('weak-overridden', 'file')), (e) => isSplicedError(e, 'RunPreMismatch'));
});
