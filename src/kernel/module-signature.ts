// The signature appended to a module (what the kernel's scripts/sign-file writes): the signature bytes, then struct
// module_signature (12 bytes), then the magic string. The kernel (module_sig_check) accepts only the PKCS#7 form.

export const SIGNATURE_MAGIC = Buffer.from('~Module signature appended~\n', 'latin1');
/** struct module_signature: algo, hash, id_type, signer_len, key_id_len (u8 each), 3 pad bytes, sig_len (__be32). */
const INFO_BYTES = 12;
const ID_TYPE_PKCS7 = 2;

export interface AppendedSignature {
  /** The PKCS#7 message (DER), as the kernel will verify it. */
  pkcs7: Buffer;
}

/** `module` followed by a detached PKCS#7 signature of it (DER) in the form module_sig_check reads. */
export function withAppendedSignature(module: Buffer, pkcs7: Buffer): Buffer {
  const info = Buffer.alloc(INFO_BYTES);
  info.writeUInt8(ID_TYPE_PKCS7, 2);
  info.writeUInt32BE(pkcs7.length, 8);
  return Buffer.concat([module, pkcs7, info, SIGNATURE_MAGIC]);
}

/** The module's appended PKCS#7 signature; undefined when the file carries none (or one the kernel would reject). */
export function appendedSignature(module: Buffer): AppendedSignature | undefined {
  const magicAt = module.length - SIGNATURE_MAGIC.length;
  if (magicAt < INFO_BYTES || !module.subarray(magicAt).equals(SIGNATURE_MAGIC)) return undefined;
  const infoAt = magicAt - INFO_BYTES;
  const idType = module.readUInt8(infoAt + 2);
  const length = module.readUInt32BE(infoAt + 8);
  if (idType !== ID_TYPE_PKCS7 || length === 0 || length > infoAt) return undefined;
  return { pkcs7: module.subarray(infoAt - length, infoAt) };
}
