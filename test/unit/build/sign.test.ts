// Signing built splices like Debian's dkms: which key (spliced.conf, else dkms's MOK pair), and the prepared tree's own
// scripts/sign-file with the kernel's hash, checked by reading the signature back (modinfo, and openssl's verdict).
// Whether a kernel accepts the key is the guest's to tell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { moduleSigHash, signModule } from '../../../src/build/module/sign';
import { chooseSigningKey, frameworkSettings, type DkmsPaths } from '../../../src/build/module/signing-key';
import { isSplicedError } from '../../../src/errors';
import { readModuleInfo } from '../../../src/kernel/modinfo';
import { appendedSignature } from '../../../src/kernel/module-signature';
import { livepatchFile } from '../kernel/module-file';
import { fixtureTree, scratchDir } from './kernel-tree';

/** A throwaway key pair, made the way dkms makes its MOK (certificate in DER). */
function keyPair(dir: string, name: string): { key: string; certificate: string } {
  const key = join(dir, `${name}.key`);
  const certificate = join(dir, `${name}.der`);
  execFileSync('openssl', [
    'req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}/`,
    '-keyout', key, '-outform', 'DER', '-out', certificate,
  ], { stdio: 'ignore' });
  return { key, certificate };
}

function dkmsPaths(dir: string): DkmsPaths {
  return { frameworkConf: join(dir, 'framework.conf'), defaultKey: join(dir, 'mok.key'), defaultCertificate: join(dir, 'mok.pub') };
}

test('framework.conf: plain assignments, quoted or not, comments ignored', () => {
  const settings = frameworkSettings(
    ['# mok_signing_key="/commented"', 'mok_signing_key="/etc/keys/a b.key"', "mok_certificate='/etc/keys/c.der'", 'sign_tool=/x # tail'].join('\n'),
  );
  assert.equal(settings.get('mok_signing_key'), '/etc/keys/a b.key');
  assert.equal(settings.get('mok_certificate'), '/etc/keys/c.der');
  assert.equal(settings.get('sign_tool'), '/x');
  assert.equal(settings.size, 3);
});

test('which key: none, dkms default pair, framework.conf override, drop-in override, spliced.conf first', () => {
  const dir = scratchDir('signing-key');
  const dkms = dkmsPaths(dir);
  assert.deepEqual(chooseSigningKey(null, dkms), { key: null, problem: null }, 'no dkms key is the normal case');

  const mok = keyPair(dir, 'mok');
  copyFileSync(mok.key, dkms.defaultKey);
  copyFileSync(mok.certificate, dkms.defaultCertificate);
  assert.deepEqual(chooseSigningKey(null, dkms).key, { key: dkms.defaultKey, certificate: dkms.defaultCertificate, source: `dkms (${dkms.frameworkConf})` });

  const other = keyPair(dir, 'other');
  writeFileSync(dkms.frameworkConf, `mok_signing_key="${other.key}"\nmok_certificate="${other.certificate}"\n`);
  assert.equal(chooseSigningKey(null, dkms).key?.key, other.key);
  mkdirSync(`${dkms.frameworkConf}.d`);
  writeFileSync(join(`${dkms.frameworkConf}.d`, '10-mine.conf'), `mok_signing_key=${mok.key}\nmok_certificate=${mok.certificate}\n`);
  assert.equal(chooseSigningKey(null, dkms).key?.key, mok.key, 'drop-ins are read after framework.conf');

  const mine = keyPair(dir, 'mine');
  assert.equal(chooseSigningKey(mine, dkms).key?.key, mine.key, 'an explicit spliced.conf pair wins over dkms');
});

test('a configured key that cannot be used is no key, with the reason', () => {
  const dir = scratchDir('signing-key-bad');
  const dkms = dkmsPaths(dir);
  const missing = chooseSigningKey({ key: join(dir, 'nope.key'), certificate: join(dir, 'nope.der') }, dkms);
  assert.equal(missing.key, null);
  assert.match(missing.problem ?? '', /nope\.key: ENOENT/);
  writeFileSync(dkms.frameworkConf, 'mok_signing_key="${dkms_tree}/mok.key"\n');
  assert.match(chooseSigningKey(null, dkms).problem ?? '', /plain absolute paths/);
});

test("signed with the tree's sign-file and the kernel's hash: modinfo names the signer, openssl verifies it", async () => {
  const tree = await fixtureTree();
  assert.equal(await moduleSigHash(tree.sourceDir), 'sha256', "Debian's CONFIG_MODULE_SIG_HASH");
  const dir = scratchDir('sign');
  const pair = keyPair(dir, 'spliced test signer');
  const module = livepatchFile('lp_to_sign');
  const unsigned = readFileSync(module);
  await signModule(tree, { ...pair, source: 'test' }, module);

  const signed = readFileSync(module);
  assert.deepEqual(signed.subarray(0, unsigned.length), unsigned, 'the module itself is unchanged; the signature is appended');
  const modinfo = (field: string) => execFileSync('modinfo', ['-F', field, module], { encoding: 'utf8' }).trim();
  assert.equal(modinfo('signer'), 'spliced test signer');
  assert.equal(modinfo('sig_id'), 'PKCS#7');
  assert.equal(modinfo('sig_hashalgo'), 'sha256');
  assert.equal((await readModuleInfo(module)).signed, true);

  const signature = appendedSignature(signed)!;
  writeFileSync(join(dir, 'sig.p7'), signature.pkcs7);
  writeFileSync(join(dir, 'content'), unsigned);
  execFileSync('openssl', ['x509', '-inform', 'DER', '-in', pair.certificate, '-out', join(dir, 'cert.pem')]);
  // -noverify: the throwaway certificate is its own root; what is checked is that this key signed these bytes.
  execFileSync('openssl', [
    'cms', '-verify', '-binary', '-inform', 'DER', '-in', join(dir, 'sig.p7'), '-content', join(dir, 'content'),
    '-certfile', join(dir, 'cert.pem'), '-noverify', '-out', '/dev/null',
  ], { stdio: 'pipe' });
});

test('a signing failure removes the module: a splice meant to be signed is never left unsigned', async () => {
  const tree = await fixtureTree();
  const dir = scratchDir('sign-fail');
  const module = livepatchFile('lp_not_signed');
  await assert.rejects(
    signModule(tree, { key: join(dir, 'missing.key'), certificate: join(dir, 'missing.der'), source: 'test' }, module),
    (err) => isSplicedError(err, 'BuildFailed') && /missing\.key/.test(err.message),
  );
  assert.equal(existsSync(module), false);
});
