// Signs a built splice the way Debian's dkms signs modules (scripts/sign-file's format), with the hash the kernel was
// configured for (CONFIG_MODULE_SIG_HASH, sha256 on Debian). The signature is appended to the module in place. It runs
// where the key is readable (the daemon, or `spliced build` as root), after the unprivileged build.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { withAppendedSignature } from '../../kernel/module-signature';
import { run, tail } from '../process';
import type { SigningKey } from './signing-key';

/** CONFIG_MODULE_SIG_HASH of the tree's .config. */
export async function moduleSigHash(sourceDir: string): Promise<string> {
  const config = await fs.readFile(path.join(sourceDir, '.config'), 'utf8');
  const hash = /^CONFIG_MODULE_SIG_HASH="([a-z0-9-]+)"$/m.exec(config)?.[1];
  if (!hash) {
    throw new SplicedError('BuildFailed', `${sourceDir}/.config sets no CONFIG_MODULE_SIG_HASH: this kernel does not sign modules`, {
      sourceDir,
    });
  }
  return hash;
}

/** Signs `module` in place; on failure it is removed: a splice meant to be signed is never left unsigned. */
export async function signModule(tree: { sourceDir: string }, signing: SigningKey, module: string): Promise<void> {
  try {
    await appendSignature(tree, signing, module);
  } catch (err) {
    await fs.rm(module, { force: true });
    throw err;
  }
}

/**
 * The detached CMS signature scripts/sign-file makes (CMS_NOCERTS | CMS_BINARY | CMS_NOSMIMECAP | CMS_NOATTR, signer
 * by issuer and serial), made by the system's openssl: never by a program of the tree, which the build user can write.
 */
async function appendSignature(tree: { sourceDir: string }, signing: SigningKey, module: string): Promise<void> {
  const hash = await moduleSigHash(tree.sourceDir);
  const failed = (why: string) =>
    new SplicedError('BuildFailed', `signing ${module} with ${signing.key} (${signing.source}) failed: ${why}`, {
      module,
      key: signing.key,
      certificate: signing.certificate,
    });
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-sign-'));
  try {
    // dkms keeps its certificate in DER; openssl cms wants the signer in PEM.
    const certificate = path.join(scratch, 'signer.pem');
    const cert = await run('openssl', ['x509', '-inform', (await isPem(signing.certificate)) ? 'PEM' : 'DER', '-in', signing.certificate, '-out', certificate]);
    if (cert.code !== 0) throw failed(`cannot read the certificate: ${tail(cert.stderr)}`);
    const signature = path.join(scratch, 'signature.p7s');
    const res = await run('openssl', [
      'cms', '-sign', '-binary', '-noattr', '-nocerts', '-nosmimecap', '-md', hash,
      '-in', module, '-signer', certificate, '-inkey', signing.key, '-outform', 'DER', '-out', signature,
    ]).catch((err: Error) => {
      throw failed(`cannot run openssl: ${err.message}`);
    });
    if (res.code !== 0) throw failed(tail(res.stderr || res.stdout));
    await fs.writeFile(module, withAppendedSignature(await fs.readFile(module), await fs.readFile(signature)));
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

async function isPem(file: string): Promise<boolean> {
  const head = await fs.readFile(file).then((b) => b.subarray(0, 64).toString('latin1'), () => '');
  return head.includes('-----BEGIN');
}
