// Module trust: the kernel's signature policy read from a fake sysfs, and the signature appended to a module file.
// Signing with the real scripts/sign-file is tested in test/unit/build/sign.test.ts; the kernel's verdict in the guest.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelBackend } from '../../../src/kernel';
import { readModuleInfo } from '../../../src/kernel/modinfo';
import { appendedSignature, SIGNATURE_MAGIC } from '../../../src/kernel/module-signature';
import { FakeKernel } from './fake-kernel';
import { livepatchFile } from './module-file';

let fake: FakeKernel;
beforeEach(() => (fake = new FakeKernel()));
afterEach(() => fake.close());

function setLockdown(text: string): void {
  mkdirSync(join(fake.roots.sys, 'kernel', 'security'), { recursive: true });
  writeFileSync(join(fake.roots.sys, 'kernel', 'security', 'lockdown'), `${text}\n`);
}

function setSigEnforce(value: 'Y' | 'N'): void {
  mkdirSync(join(fake.roots.sys, 'module', 'module', 'parameters'), { recursive: true });
  writeFileSync(join(fake.roots.sys, 'module', 'module', 'parameters', 'sig_enforce'), `${value}\n`);
}

const policy = () => new KernelBackend({ roots: fake.roots, loader: fake, log: fake }).signaturePolicy();

test('no lockdown LSM and no sig_enforce parameter: signatures not required', async () => {
  assert.deepEqual(await policy(), { required: false, lockdown: null, sigEnforce: false });
});

test('lockdown none, sig_enforce N: not required; sig_enforce Y: required', async () => {
  setLockdown('[none] integrity confidentiality');
  setSigEnforce('N');
  assert.deepEqual(await policy(), { required: false, lockdown: 'none', sigEnforce: false });
  setSigEnforce('Y');
  assert.deepEqual(await policy(), { required: true, lockdown: 'none', sigEnforce: true });
});

test('lockdown integrity or confidentiality forces signatures even with sig_enforce N', async () => {
  setSigEnforce('N');
  setLockdown('none [integrity] confidentiality');
  assert.deepEqual(await policy(), { required: true, lockdown: 'integrity', sigEnforce: false });
  setLockdown('none integrity [confidentiality]');
  assert.deepEqual(await policy(), { required: true, lockdown: 'confidentiality', sigEnforce: false });
});

/** What sign-file appends: PKCS#7 bytes, struct module_signature (id_type 2, sig_len big-endian), the magic. */
function withSignature(module: Buffer, pkcs7: Buffer, idType = 2): Buffer {
  const info = Buffer.alloc(12);
  info.writeUInt8(idType, 2);
  info.writeUInt32BE(pkcs7.length, 8);
  return Buffer.concat([module, pkcs7, info, SIGNATURE_MAGIC]);
}

test('an appended PKCS#7 signature is found and cut out exactly; a module is still read through it', async () => {
  const file = livepatchFile('lp_signed');
  const plain = readFileSync(file);
  assert.equal(appendedSignature(plain), undefined);
  assert.equal((await readModuleInfo(file)).signed, false);
  const pkcs7 = Buffer.from('0\x82 pretend DER', 'latin1');
  writeFileSync(file, withSignature(plain, pkcs7));
  assert.deepEqual(appendedSignature(readFileSync(file))?.pkcs7, pkcs7);
  const info = await readModuleInfo(file);
  assert.equal(info.signed, true);
  assert.equal(info.name, 'lp_signed');
});

test('a signature the kernel would not take is no signature: not PKCS#7, longer than the file, or a bare magic', () => {
  const module = readFileSync(livepatchFile('lp_odd'));
  assert.equal(appendedSignature(withSignature(module, Buffer.from('pgp'), 1)), undefined);
  const tooLong = withSignature(module, Buffer.from('x'));
  tooLong.writeUInt32BE(tooLong.length, tooLong.length - SIGNATURE_MAGIC.length - 4);
  assert.equal(appendedSignature(tooLong), undefined);
  assert.equal(appendedSignature(SIGNATURE_MAGIC), undefined);
});
