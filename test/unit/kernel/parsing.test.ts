import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSplicedError } from '../../../src/errors';
import { describeBlockers, parseStack } from '../../../src/kernel/blocking-tasks';
import { buildIdFromNotes, readIdentity } from '../../../src/kernel/identity';
import { parseKmsgRecord } from '../../../src/kernel/kmsg';
import { parseFunctionDir } from '../../../src/kernel/livepatch-sysfs';
import { errnoFromToolMessage } from '../../../src/kernel/module-loader';

function note(name: string, type: number, desc: Buffer): Buffer {
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(name.length + 1, 0);
  header.writeUInt32LE(desc.length, 4);
  header.writeUInt32LE(type, 8);
  return Buffer.concat([header, pad(Buffer.from(`${name}\0`)), pad(desc)]);
}

const BUILD_ID = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');

test('build id: the GNU NT_GNU_BUILD_ID note among others (Xen, a GNU note of another type)', () => {
  const notes = Buffer.concat([note('Xen', 6, Buffer.from('xen-3.0')), note('GNU', 1, Buffer.alloc(16)), note('GNU', 3, BUILD_ID)]);
  assert.equal(buildIdFromNotes(notes), BUILD_ID.toString('hex'));
  assert.equal(buildIdFromNotes(note('Xen', 6, Buffer.from('x'))), undefined);
  assert.equal(buildIdFromNotes(notes.subarray(0, notes.length - 4)), undefined);
});

test('identity from a sysfs/procfs tree; a kernel without a build id is an error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'identity-'));
  const roots = { sys: join(dir, 'sys'), proc: join(dir, 'proc') };
  mkdirSync(join(roots.sys, 'kernel'), { recursive: true });
  mkdirSync(roots.proc);
  writeFileSync(join(roots.sys, 'kernel', 'notes'), note('GNU', 3, BUILD_ID));
  writeFileSync(join(roots.proc, 'version'), 'Linux version 6.1.0-56-amd64 (x) #1 SMP Debian 6.1.192-2\n');
  assert.deepEqual(await readIdentity(roots, () => '6.1.0-56-amd64'), {
    release: '6.1.0-56-amd64',
    buildId: BUILD_ID.toString('hex'),
    version: 'Linux version 6.1.0-56-amd64 (x) #1 SMP Debian 6.1.192-2',
  });
  writeFileSync(join(roots.sys, 'kernel', 'notes'), note('Xen', 6, Buffer.from('x')));
  await assert.rejects(readIdentity(roots), (err) => isSplicedError(err, 'Internal') && /build id/.test(err.message));
  rmSync(dir, { recursive: true });
});

test('kmsg records: sequence number and message, escapes decoded, dictionary lines dropped', () => {
  assert.deepEqual(parseKmsgRecord('4,1234,5678,-;foo: Unknown symbol bar (err -2)\n SUBSYSTEM=x\n'), {
    seq: 1234,
    message: 'foo: Unknown symbol bar (err -2)',
  });
  assert.deepEqual(parseKmsgRecord('6,7,8,c,caller=T1;tab\\x09here\n'), { seq: 7, message: 'tab\there' });
  assert.equal(parseKmsgRecord('garbage'), undefined);
});

test('sysfs function directories, stacks, blockers, kmod messages', () => {
  assert.deepEqual(parseFunctionDir('cmdline_proc_show,1'), { name: 'cmdline_proc_show', sympos: 1 });
  assert.deepEqual(parseFunctionDir('odd'), { name: 'odd', sympos: 0 });
  const stack = parseStack('[<0>] msleep+0x2d/0x40\n[<0>] busymod_work_func+0x3a/0x60 [test_klp_callbacks_busy]\n');
  assert.deepEqual(stack, ['msleep+0x2d/0x40', 'busymod_work_func+0x3a/0x60 [test_klp_callbacks_busy]']);
  assert.equal(
    describeBlockers([{ pid: 37, tid: 38, comm: 'kworker/0:1', stack }]),
    'kworker/0:1 (pid 37, tid 38) in busymod_work_func+0x3a/0x60 [test_klp_callbacks_busy]',
  );
  assert.equal(errnoFromToolMessage("insmod: ERROR: could not insert module x.ko: File exists"), 'EEXIST');
  assert.equal(errnoFromToolMessage("insmod: ERROR: could not insert module x.ko: Device or resource busy"), 'EBUSY');
  assert.equal(errnoFromToolMessage("insmod: ERROR: could not insert module x.ko: Invalid module format"), 'ENOEXEC');
  assert.equal(errnoFromToolMessage('rmmod: ERROR: Module x is in use'), 'EBUSY');
  assert.equal(errnoFromToolMessage('rmmod: ERROR: Module x is not currently loaded'), 'ENOENT');
});
