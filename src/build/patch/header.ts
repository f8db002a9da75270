// What a patch says about itself before its first diff: a one-line description (git format-patch's Subject, else
// the first non-empty line), the CVE ids it names, and an optional `Spliced-Version:` trailer (the Debian version
// whose fix it brings). The builder records them in the module's .modinfo (src/kernel/splice-modinfo.ts). A series
// (an mbox of several mails) has one header per mail, merged into the module's one.

import { SplicedError } from '../../errors';
import { KERNEL_PACKAGE_VERSION_RE } from '../../engine/version';

export interface PatchHeader {
  description?: string;
  /** Upper-cased, unique, in order of first mention. */
  cves: string[];
  version?: string;
}

/** The text before the first file diff (`diff --git`, or a `---` line followed by `+++`). */
function headerText(patch: string): string {
  const lines = patch.split('\n');
  const end = lines.findIndex((line, i) => line.startsWith('diff --git ') || (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')));
  return lines.slice(0, end < 0 ? lines.length : end).join('\n');
}

/** `Subject:` with its folded continuation lines, without git's `[PATCH n/m]` tag. */
function subject(header: string): string | undefined {
  const match = /^Subject:[ \t]*(.*(?:\n[ \t]+.*)*)/im.exec(header);
  if (!match) return undefined;
  const text = match[1].replace(/\n[ \t]+/g, ' ').replace(/^\[[^\]]*\]\s*/, '').trim();
  return text || undefined;
}

export function parsePatchHeader(patch: string): PatchHeader {
  const header = headerText(patch);
  const firstLine = header.split('\n').map((line) => line.trim()).find((line) => line !== '');
  const description = subject(header) ?? firstLine;
  const cves = [...new Set([...header.matchAll(/\bCVE-\d{4}-\d{4,}\b/gi)].map((m) => m[0].toUpperCase()))];
  const version = /^Spliced-Version:[ \t]*(.*?)[ \t]*$/im.exec(header)?.[1];
  if (version !== undefined && !KERNEL_PACKAGE_VERSION_RE.test(version)) {
    throw new SplicedError('InvalidArgument', `the patch's Spliced-Version "${version}" is not a Debian package version (like 6.1.192-2)`, { version });
  }
  return { ...(description !== undefined && { description }), cves, ...(version !== undefined && { version }) };
}

/** The header of a series: the descriptions joined in order, every CVE once, the one version they name. */
export function mergeHeaders(headers: PatchHeader[]): PatchHeader {
  if (headers.length === 1) return headers[0];
  const descriptions = headers.flatMap((h) => (h.description === undefined ? [] : [h.description]));
  const cves = [...new Set(headers.flatMap((h) => h.cves))];
  const versions = [...new Set(headers.flatMap((h) => (h.version === undefined ? [] : [h.version])))];
  if (versions.length > 1) {
    throw new SplicedError('InvalidArgument', `the patches of the series name different Spliced-Versions (${versions.join(', ')}); a splice brings one version's fixes`, {
      versions,
    });
  }
  return {
    ...(descriptions.length > 0 && { description: descriptions.join('; ') }),
    cves,
    ...(versions.length === 1 && { version: versions[0] }),
  };
}
