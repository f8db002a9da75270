// Signs a built splice the way Debian's dkms signs modules: the target tree's own scripts/sign-file (built by
// `make modules_prepare` when CONFIG_MODULE_SIG_FORMAT is set, as on Debian), with the hash the kernel was configured
// for (CONFIG_MODULE_SIG_HASH, sha256 on Debian). The signature is appended to the module in place.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import { appendedSignature } from '../../kernel/module-signature';
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

async function appendSignature(tree: { sourceDir: string }, signing: SigningKey, module: string): Promise<void> {
  const signFile = path.join(tree.sourceDir, 'scripts', 'sign-file');
  const hash = await moduleSigHash(tree.sourceDir);
  const failed = (why: string) =>
    new SplicedError('BuildFailed', `signing ${module} with ${signing.key} (${signing.source}) failed: ${why}`, {
      module,
      key: signing.key,
      certificate: signing.certificate,
    });
  const res = await run(signFile, [hash, signing.key, signing.certificate, module]).catch((err: Error) => {
    throw failed(`cannot run ${signFile}: ${err.message}`);
  });
  if (res.code !== 0) throw failed(tail(res.stderr || res.stdout));
  if (!appendedSignature(await fs.readFile(module))) throw failed(`${signFile} appended no signature`);
}
