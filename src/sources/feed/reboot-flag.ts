// Debian's "a reboot is required" flag (/run/reboot-required and the package list /run/reboot-required.pkgs) as
// the feed sees it (docs/feed.md "The reboot flag"). unattended-upgrades' kernel hook
// (/etc/kernel/postinst.d/unattended-upgrades) touches the flag and lists the new linux-image package; its
// Automatic-Reboot then reboots. A listed image of the running kernel's series and flavour whose source version
// spliced already runs (EffectiveVersion) needs no reboot: spliced takes its line out, and the flag with the last line.
// This file decides (from the list, dpkg's view and the live version) and edits the two files; the daemon part is
// src/daemon/reboot-flag.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InstalledPackage } from './apt-output';
import { compareVersions } from './debian-version';
import { abiOfImagePackage, type KernelRelease } from './kernel-release';

export interface FlagDecision {
  /** Lines to take out: images whose every fix is live. */
  remove: string[];
  /** Lines that stay, each with why (logged). */
  keep: { package: string; reason: string }[];
}

/**
 * `listed`: the lines of reboot-required.pkgs; `installed`: dpkg's answer for them (absent: not installed);
 * `live`: the running kernel and the version whose fixes all run (EffectiveVersion).
 */
export function decideFlag(listed: readonly string[], installed: ReadonlyMap<string, InstalledPackage>, live: { kernel: KernelRelease; effectiveVersion: string }): FlagDecision {
  const decision: FlagDecision = { remove: [], keep: [] };
  for (const pkg of new Set(listed)) {
    const reason = keepReason(pkg, installed.get(pkg), live);
    if (reason === null) decision.remove.push(pkg);
    else decision.keep.push({ package: pkg, reason });
  }
  return decision;
}

function keepReason(pkg: string, installed: InstalledPackage | undefined, live: { kernel: KernelRelease; effectiveVersion: string }): string | null {
  if (abiOfImagePackage(live.kernel, pkg) === undefined) {
    return `not an image of the running kernel's series and flavour (linux-image-${live.kernel.series}.0-*-${live.kernel.flavour})`;
  }
  if (installed === undefined) return 'not installed: which fixes it carries is unknown';
  const source = installed.builtFrom ?? installed.version;
  if (compareVersions(source, live.effectiveVersion) > 0) {
    return `built from linux ${source}, newer than the live ${live.effectiveVersion}: not every fix of it runs`;
  }
  return null;
}

/** The package list of a flag file: `<flag>.pkgs`. */
export const packageListOf = (flagFile: string): string => `${flagFile}.pkgs`;

/** The listed packages, in order; [] when there is no list. */
export function readPackageList(flagFile: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(packageListOf(flagFile), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
}

/**
 * Takes `remove` out of the list (exact lines), and the list and the flag once nothing is left. The list is
 * rewritten through a temporary file and a rename, so a reader never sees half of it; unattended-upgrades' hook appends
 * without a lock, so a line it adds between the read and the rename is found by re-reading, and the rewrite starts over.
 * Returns the lines left.
 */
export function removeFromFlag(flagFile: string, remove: readonly string[]): string[] {
  const list = packageListOf(flagFile);
  for (;;) {
    const before = readPackageList(flagFile);
    const left = before.filter((line) => !remove.includes(line));
    if (left.length === before.length) return left;
    if (left.length === 0) {
      fs.rmSync(flagFile, { force: true });
      fs.rmSync(list, { force: true });
      return left;
    }
    const temp = path.join(path.dirname(list), `.${path.basename(list)}.spliced`);
    fs.writeFileSync(temp, `${left.join('\n')}\n`, { mode: 0o644 });
    if (readPackageList(flagFile).join('\n') !== before.join('\n')) {
      fs.rmSync(temp, { force: true });
      continue;
    }
    fs.renameSync(temp, list);
    return left;
  }
}
