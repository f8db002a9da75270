// Which key signs the splices built on this machine, and its certificate: the pair configured in spliced.conf, else
// DKMS's (Debian's dkms signs its modules with /var/lib/dkms/mok.key + mok.pub, or with mok_signing_key /
// mok_certificate set in /etc/dkms/framework.conf), so one enrolled MOK serves both. None: splices are built unsigned.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SigningKey {
  /** Private key (PEM), as scripts/sign-file takes it. */
  key: string;
  /** X.509 certificate of the key (DER or PEM): the one to enrol with `mokutil --import`. */
  certificate: string;
  /** Where the pair was found, for messages and the log. */
  source: string;
}

export interface DkmsPaths {
  /** framework.conf; its `<file>.d/*.conf` are read after it, in name order, as dkms does. */
  frameworkConf: string;
  defaultKey: string;
  defaultCertificate: string;
}

export const DEBIAN_DKMS: DkmsPaths = {
  frameworkConf: '/etc/dkms/framework.conf',
  defaultKey: '/var/lib/dkms/mok.key',
  defaultCertificate: '/var/lib/dkms/mok.pub',
};

export interface SigningKeyChoice {
  key: SigningKey | null;
  /** Why a configured pair is not used (missing, unreadable, not understood), for the log; null when nothing is wrong. */
  problem: string | null;
}

function readable(file: string): string | null {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile() ? null : `${file} is not a regular file`;
  } catch (err) {
    return `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

function usable(pair: Omit<SigningKey, 'source'>, source: string): SigningKeyChoice {
  const problem = readable(pair.key) ?? readable(pair.certificate);
  return problem === null ? { key: { ...pair, source }, problem: null } : { key: null, problem: `${source}: ${problem}` };
}

/** The `key="value"` lines of a dkms framework file (shell syntax; only plain assignments are understood). */
export function frameworkSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|'([^']*)'|([^\s#'"]*))\s*(?:#.*)?$/.exec(line);
    if (m) settings.set(m[1], m[2] ?? m[3] ?? m[4]);
  }
  return settings;
}

function dkmsSettings(frameworkConf: string): Map<string, string> {
  const dropIns = `${frameworkConf}.d`;
  let extra: string[] = [];
  try {
    extra = fs.readdirSync(dropIns).filter((f) => f.endsWith('.conf')).sort().map((f) => path.join(dropIns, f));
  } catch {
    // no drop-in directory
  }
  const settings = new Map<string, string>();
  for (const file of [frameworkConf, ...extra]) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const [key, value] of frameworkSettings(text)) settings.set(key, value);
  }
  return settings;
}

function dkmsKey(dkms: DkmsPaths): SigningKeyChoice {
  const settings = dkmsSettings(dkms.frameworkConf);
  const key = settings.get('mok_signing_key') ?? dkms.defaultKey;
  const certificate = settings.get('mok_certificate') ?? dkms.defaultCertificate;
  const source = `dkms (${dkms.frameworkConf})`;
  if ([key, certificate].some((file) => file.includes('$') || !path.isAbsolute(file))) {
    return { key: null, problem: `${source}: mok_signing_key/mok_certificate must be plain absolute paths to be used here` };
  }
  const choice = usable({ key, certificate }, source);
  // DKMS's default pair simply not existing (no dkms, or it never signed anything) is the normal case, not a problem.
  const defaults = key === dkms.defaultKey && certificate === dkms.defaultCertificate;
  return defaults && !fs.existsSync(key) ? { key: null, problem: null } : choice;
}

/** The pair from spliced.conf when set (an explicit choice wins), else DKMS's when present, else none. */
export function chooseSigningKey(
  configured: Omit<SigningKey, 'source'> | null,
  dkms: DkmsPaths = DEBIAN_DKMS,
): SigningKeyChoice {
  if (configured !== null) return usable(configured, 'spliced.conf signing_key/signing_certificate');
  return dkmsKey(dkms);
}
