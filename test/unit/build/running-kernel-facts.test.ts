// readRunningKernelFacts (src/build/splice.ts) on this host's kernel: the daemon hands these facts to its build unit,
// which finds every symbol of the patched functions in them. Needs root (kallsyms hides addresses from others).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readRunningKernelFacts } from '../../../src/build/splice';

const root = process.getuid?.() === 0;

// Node 18's fs.promises.readFile took the first short read of /proc/kallsyms (4 KiB of its megabytes) for its end:
// the guest's build then found no patched function in the running kernel (RunPreMismatch).
test('readRunningKernelFacts reads all of /proc/kallsyms', { skip: !root && 'needs root' }, async () => {
  const { kallsyms } = await readRunningKernelFacts();
  const whole = readFileSync('/proc/kallsyms', 'utf8');
  assert.ok(whole.length > 65536, `/proc/kallsyms is only ${whole.length} bytes here`);
  assert.equal(kallsyms.length, whole.length);
});
