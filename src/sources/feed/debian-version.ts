// Debian version order for the feed: dpkg's algorithm lives once, in the engine (src/engine/version.ts).

import { compareDebianVersions } from '../../engine/version';

export { compareDebianVersions as compareVersions };

/** The newest of `versions` in dpkg's order; undefined for none. */
export function newestVersion(versions: readonly string[]): string | undefined {
  return versions.reduce<string | undefined>((best, v) => (best === undefined || compareDebianVersions(v, best) > 0 ? v : best), undefined);
}
