// Whether the running kernel loads only signed modules: kernel lockdown (integrity or confidentiality forces module
// signatures, like a Secure Boot machine's Debian kernel) or module.sig_enforce. Read from sysfs on every call: both
// can be raised at run time (never lowered).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelRoots } from './roots';
import type { LockdownMode, SignaturePolicy } from './types';

const LOCKDOWN_MODES: readonly LockdownMode[] = ['none', 'integrity', 'confidentiality'];

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The bracketed word of `none [integrity] confidentiality`; undefined if none is bracketed or it is unknown. */
export function selectedLockdown(text: string): LockdownMode | undefined {
  const word = /\[(\w+)\]/.exec(text)?.[1];
  return LOCKDOWN_MODES.find((mode) => mode === word);
}

export async function readSignaturePolicy(roots: KernelRoots): Promise<SignaturePolicy> {
  // No securityfs lockdown file: the kernel has no lockdown LSM. No sig_enforce: built without CONFIG_MODULE_SIG.
  const [lockdownText, enforceText] = await Promise.all([
    readOptional(join(roots.sys, 'kernel', 'security', 'lockdown')),
    readOptional(join(roots.sys, 'module', 'module', 'parameters', 'sig_enforce')),
  ]);
  const lockdown = lockdownText === undefined ? null : (selectedLockdown(lockdownText) ?? null);
  const sigEnforce = enforceText?.trim() === 'Y';
  return { required: sigEnforce || (lockdown !== null && lockdown !== 'none'), lockdown, sigEnforce };
}
