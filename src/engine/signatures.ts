// Refusals that save a doomed attempt when the kernel loads only signed modules (lockdown, module.sig_enforce): a
// source patch with no key to sign its splice (before minutes of building), and an unsigned module (before insmod,
// with the reason instead of the kernel's bare errno). A signed module whose key the kernel does not trust can only be
// told by the kernel: its refusal is classified as SignatureRequired too (src/kernel/load-failure.ts).

import { SplicedError } from '../errors';
import type { ModuleInfo, SignaturePolicy } from '../kernel/types';
import type { EngineContext } from './context';

/** Why a kernel that requires signatures does: lockdown above none forces them, otherwise it is sig_enforce. */
function signatureReason(lockdown: string | null): string {
  return lockdown !== null && lockdown !== 'none' ? `lockdown: ${lockdown}` : 'module.sig_enforce';
}

/** One line for `splicectl status` and `spliced tool status`, from the status or the D-Bus properties. */
export function describeModuleSignatures(s: { required: boolean; lockdown: string | null; signingKey: string | null }): string {
  if (!s.required) return `not required; signing key: ${s.signingKey ?? 'none'}`;
  const key = s.signingKey === null ? 'no signing key: source patches are refused' : `signing key: ${s.signingKey}`;
  return `required (${signatureReason(s.lockdown)}); ${key}`;
}

function details(policy: SignaturePolicy, path: string): Record<string, unknown> {
  return { path, lockdown: policy.lockdown, sigEnforce: policy.sigEnforce };
}

export async function refuseUnsignableBuild(ctx: EngineContext, path: string): Promise<void> {
  const policy = await ctx.kernel.signaturePolicy();
  if (!policy.required || ctx.settings.signingKey !== null) return;
  throw new SplicedError(
    'SignatureRequired',
    `not building ${path}: this kernel loads only signed modules (${signatureReason(policy.lockdown)}) and spliced has no signing ` +
      'key. Configure signing_key and signing_certificate (or create DKMS\'s /var/lib/dkms/mok.key and mok.pub) and ' +
      'enrol the certificate with mokutil --import.',
    details(policy, path),
  );
}

export async function refuseUnsignedModule(ctx: EngineContext, info: ModuleInfo, path: string): Promise<void> {
  if (info.signed) return;
  const policy = await ctx.kernel.signaturePolicy();
  if (!policy.required) return;
  throw new SplicedError(
    'SignatureRequired',
    `${path} is not signed, and this kernel loads only signed modules (${signatureReason(policy.lockdown)}). Sign it with a key ` +
      'the kernel trusts (scripts/sign-file; enrol the certificate with mokutil --import).',
    { ...details(policy, path), module: info.name },
  );
}
