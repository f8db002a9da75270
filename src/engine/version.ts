// Kernel package versions and the effective kernel version (what `uptrack-uname -r` reports).
//
// A splice declares the kernel package version whose fixes it brings in its modinfo field `spliced.version`
// (e.g. "6.1.159-1", a Debian version). The effective version is the newest such version for which every known
// patch of the running kernel build declaring that version or an older one is applied; the running kernel's own
// package version when there is none.

/**
 * A version of Debian's linux source package (6.1.192-2, 6.1.90-1~bpo11+1): no epoch, which linux has never had. One
 * rule for every door that takes one: a patch's Spliced-Version, D-Bus source_version, `--source-version`,
 * the config's pinned feed version, a prepared tree's name.
 */
export const KERNEL_PACKAGE_VERSION_RE = /^[0-9][A-Za-z0-9.+~-]*$/;

/**
 * The Debian package version of the running kernel from the /proc/version line: the "Debian X" after the build
 * number ("#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)"), not the compiler's earlier "(Debian 12.2.0-14)".
 */
export function baseVersionOf(procVersion: string, release: string): string {
  const match = /#\d+ .*\bDebian (\S+)/.exec(procVersion);
  return match ? match[1] : release;
}

export interface VersionedPatch {
  version: string | null;
  applied: boolean;
}

export function effectiveVersion(base: string, patches: VersionedPatch[]): string {
  const newer = patches.filter(
    (p): p is { version: string; applied: boolean } => p.version !== null && compareDebianVersions(p.version, base) > 0,
  );
  const versions = [...new Set(newer.map((p) => p.version))].sort(compareDebianVersions);
  let effective = base;
  for (const version of versions) {
    const complete = newer.every((p) => compareDebianVersions(p.version, version) > 0 || p.applied);
    if (!complete) break;
    effective = version;
  }
  return effective;
}

/** dpkg's version ordering: epoch, then upstream version, then Debian revision, each compared with verrevcmp. */
export function compareDebianVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  return Math.sign(pa.epoch - pb.epoch) || verrevcmp(pa.upstream, pb.upstream) || verrevcmp(pa.revision, pb.revision);
}

function parse(version: string): { epoch: number; upstream: string; revision: string } {
  const colon = version.indexOf(':');
  const epoch = colon > 0 ? Number(version.slice(0, colon)) || 0 : 0;
  const rest = colon > 0 ? version.slice(colon + 1) : version;
  const dash = rest.lastIndexOf('-');
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: '' };
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Weight of a non-digit character: '~' sorts before everything, even the end; letters before other symbols. */
function order(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const diff = order(a[i]) - order(b[j]);
      if (diff !== 0) return Math.sign(diff);
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let firstDiff = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff !== 0) return Math.sign(firstDiff);
  }
  return 0;
}
