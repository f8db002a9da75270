// The Debian changelog of linux-source (usr/share/doc/linux-source-<series>/changelog.Debian.gz): one entry per
// upload, its fixes as bullet lines ("* " items, "- " sub-items, continuation lines indented further), CVE ids in
// the lines. Debian's stable entries mostly repeat upstream commit subjects: a line names a file only now and then.

import { compareVersions } from './debian-version';

export interface ChangelogLine {
  /** The bullet's text, continuation lines joined with single spaces. */
  text: string;
  /** 1 for "* " items, 2 for "- " sub-items, 3 deeper. */
  level: number;
  /** CVE ids the line names, in order, each once. */
  cves: string[];
}

export interface ChangelogEntry {
  version: string;
  distribution: string;
  urgency: string;
  /** The trailer's date, as written (RFC 2822). */
  date: string;
  maintainer: string;
  lines: ChangelogLine[];
  /** Every CVE id of the entry, each once. */
  cves: string[];
}

const HEADER_RE = /^(\S+) \(([^)]+)\) ([^;]+);(.*)$/;
const TRAILER_RE = /^ -- (.+?)  (.+)$/;
const BULLET_RE = /^(\s+)([*+-]) (.*)$/;
const CVE_RE = /CVE-\d{4}-\d{4,}/g;

const unique = (ids: string[]) => [...new Set(ids)];

export function parseChangelog(text: string): ChangelogEntry[] {
  const entries: ChangelogEntry[] = [];
  let entry: ChangelogEntry | undefined;
  let line: ChangelogLine | undefined;
  /** Where the current bullet's text starts: its continuation lines are indented at least this far. */
  let textColumn = 0;
  const finishLine = () => {
    if (line && entry) {
      line.cves = unique(line.text.match(CVE_RE) ?? []);
      entry.lines.push(line);
    }
    line = undefined;
  };
  for (const raw of text.split('\n')) {
    const header = HEADER_RE.exec(raw);
    if (header) {
      entry = {
        version: header[2],
        distribution: header[3].trim(),
        urgency: /urgency=(\w+)/.exec(header[4])?.[1] ?? 'low',
        date: '',
        maintainer: '',
        lines: [],
        cves: [],
      };
      continue;
    }
    if (!entry) continue;
    const trailer = TRAILER_RE.exec(raw);
    if (trailer) {
      finishLine();
      entry.maintainer = trailer[1];
      entry.date = trailer[2].trim();
      entry.cves = unique(entry.lines.flatMap((l) => l.cves));
      entries.push(entry);
      entry = undefined;
      continue;
    }
    const bullet = BULLET_RE.exec(raw);
    if (bullet) {
      finishLine();
      const level = bullet[2] === '*' ? 1 : bullet[2] === '-' ? 2 : 3;
      line = { text: bullet[3].trim(), level, cves: [] };
      textColumn = bullet[1].length + 2;
    } else if (line && raw.length - raw.trimStart().length >= textColumn && raw.trim() !== '') {
      line.text += ` ${raw.trim()}`;
    } else {
      // A blank line, a "[ Maintainer ]" heading or a less indented line (the upstream ChangeLog URL heading a
      // group of sub-items) ends the bullet.
      finishLine();
    }
  }
  return entries;
}

/** The entries after `running` up to and including `target`, newest first (the changelog's own order). */
export function entriesBetween(entries: readonly ChangelogEntry[], running: string, target: string): ChangelogEntry[] {
  return entries.filter((e) => compareVersions(e.version, running) > 0 && compareVersions(e.version, target) <= 0);
}

/** Delta files a line names by path ("fs/ext4/mballoc.c") or by file name ("mballoc.c"). */
export function filesNamedBy(line: ChangelogLine, files: readonly string[]): string[] {
  return files.filter((f) => line.text.includes(f) || new RegExp(`(^|[\\s(/])${f.slice(f.lastIndexOf('/') + 1).replace(/\./g, '\\.')}\\b`).test(line.text));
}
