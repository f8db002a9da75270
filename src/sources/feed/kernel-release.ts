// How Debian 12 names its kernel packages (the one "kernel generation" seam of the feed): release
// "6.1.0-55-amd64" = series 6.1, ABI 55, flavour amd64; each upload bumps the ABI, so a fix always arrives as a
// new linux-image-<series>.0-<ABI>-<flavour> package built from a newer linux-source-<series>.
// Debian 13 names images by upstream version (6.12.118+deb13-amd64): that is a second implementation of this file.

import { SplicedError } from '../../errors';

export interface KernelRelease {
  /** `uname -r`: "6.1.0-55-amd64". */
  release: string;
  /** "6.1": names linux-source-6.1. */
  series: string;
  /** 55: bumped by every upload. */
  abi: number;
  /** "amd64", "cloud-amd64", "rt-amd64". */
  flavour: string;
}

const RELEASE_RE = /^(\d+\.\d+)\.0-(\d+)-([a-z0-9][a-z0-9-]*)$/;

export function parseRelease(release: string): KernelRelease {
  const m = RELEASE_RE.exec(release);
  if (!m) {
    throw new SplicedError('NotApplicable', `"${release}" is not a Debian 12 kernel release (like 6.1.0-55-amd64)`, { release });
  }
  return { release, series: m[1], abi: Number(m[2]), flavour: m[3] };
}

export const sourcePackage = (k: Pick<KernelRelease, 'series'>): string => `linux-source-${k.series}`;

export const imagePackage = (k: Pick<KernelRelease, 'series' | 'flavour'>, abi: number): string =>
  `linux-image-${k.series}.0-${abi}-${k.flavour}`;

/** The prefix under which `apt-cache pkgnames` lists every image package of the series. */
export const imagePackagePrefix = (k: Pick<KernelRelease, 'series'>): string => `linux-image-${k.series}.0-`;

/** The ABI of an image package of this series and flavour (signed image only: not -dbg, -unsigned, other flavours). */
export function abiOfImagePackage(k: Pick<KernelRelease, 'series' | 'flavour'>, pkg: string): number | undefined {
  const m = RELEASE_RE.exec(pkg.replace(/^linux-image-/, ''));
  return m && m[1] === k.series && m[3] === k.flavour && pkg.startsWith('linux-image-') ? Number(m[2]) : undefined;
}
