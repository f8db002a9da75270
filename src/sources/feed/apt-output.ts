// Parsers of apt's and dpkg's own command output (apt-cache madison, pkgnames, show; dpkg-query -W): the feed reads
// the archive only through apt's tools and its signed indexes, never over a network of its own.

/** Versions `apt-cache madison PKG` lists ("linux-source-6.1 |  6.1.192-3 | http://… Packages"), each once. */
export function parseMadison(output: string, pkg: string): string[] {
  const versions = output
    .split('\n')
    .map((line) => line.split('|').map((field) => field.trim()))
    .filter((fields) => fields.length >= 3 && fields[0] === pkg && fields[2].endsWith('Packages'))
    .map((fields) => fields[1]);
  return [...new Set(versions)];
}

/** One package stanza of `apt-cache show`: field name → value (first line only; enough for the fields we read). */
export type Stanza = Record<string, string>;

export function parseStanzas(output: string): Stanza[] {
  return output
    .split(/\n\s*\n/)
    .map((block) => {
      const stanza: Stanza = {};
      for (const m of block.matchAll(/^([A-Za-z0-9-]+): ?(.*)$/gm)) stanza[m[1]] = m[2].trim();
      return stanza;
    })
    .filter((stanza) => stanza.Package !== undefined && stanza.Version !== undefined);
}

/** The `linux` source version an image package was built from: its `Built-Using: linux (= V)`. */
export function builtFromLinux(stanza: Stanza): string | undefined {
  return /(?:^|,\s*)linux \(= ([^)]+)\)/.exec(stanza['Built-Using'] ?? '')?.[1];
}

/** What `dpkg-query -W` prints with DPKG_QUERY_FORMAT: one line per package it knows (it skips unknown ones). */
export const DPKG_QUERY_FORMAT = '-f=${Package}\t${Status}\t${Version}\t${Built-Using}\n';

/** An installed package, and for a kernel image the `linux` source version it was built from. */
export interface InstalledPackage {
  version: string;
  /** `Built-Using: linux (= V)`; Debian's signed images carry it. */
  builtFrom?: string;
}

/** The installed packages among `dpkg-query -W DPKG_QUERY_FORMAT` lines (removed ones keep a status line; skipped). */
export function parseInstalled(output: string): Map<string, InstalledPackage> {
  const found = new Map<string, InstalledPackage>();
  for (const line of output.split('\n')) {
    const [pkg, status, version, builtUsing] = line.split('\t');
    if (!pkg || !status?.endsWith(' installed') || !version) continue;
    const builtFrom = builtFromLinux({ 'Built-Using': builtUsing ?? '' });
    found.set(pkg, { version, ...(builtFrom && { builtFrom }) });
  }
  return found;
}
