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

/** `dpkg-query -W -f='${Status}\t${Version}\n' PKG`: the installed version, if the package is installed. */
export function parseInstalled(output: string): string | undefined {
  const [status, version] = output.trim().split('\t');
  return status?.endsWith(' installed') && version ? version : undefined;
}

export const DPKG_QUERY_FORMAT = '-f=${Status}\t${Version}\n';
