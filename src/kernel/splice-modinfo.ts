// The .modinfo fields of a splice module (docs/files.md): the builder writes them, the engine reads them. One table,
// so the two can never drift apart. The dots keep them apart from the kernel's own keys; MODULE_INFO() cannot take a
// dot, so the builder writes these strings into .modinfo directly.

export const SPLICE_MODINFO = {
  /** Debian version whose fixes the splice brings (drives the effective version). */
  version: 'spliced.version',
  /** CVE ids, comma or space separated, or the field repeated. */
  cves: 'spliced.cves',
  /** GNU build id of the vmlinux the module was built for. */
  buildId: 'spliced.kernel_build_id',
  /** sha256 of the source patch the module was built from. */
  patchSha256: 'spliced.patch_sha256',
  /** What it replaces: `<object>:<function>,<sympos>`, space separated. */
  functions: 'spliced.functions',
  /** The linux-source version the module was compiled from (the kernel's own, or `spliced build --source-version`). */
  sourceVersion: 'spliced.source_version',
} as const;

/** The livepatch name the builder gives the module of a source patch: spliced_<first 12 hex digits of its sha256>. */
export function spliceModuleName(patchSha256: string): string {
  return `spliced_${patchSha256.slice(0, 12)}`;
}
