// Quarantine: a file spliced was given but cannot use is kept, never deleted, with why beside it:
// <quarantine>/<name> and <quarantine>/<name>.reason.json (format in docs/files.md).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SplicedError } from '../errors';
import { faultPoint } from '../fault-point';
import { writeWhole } from './write-whole';

export interface QuarantineReason {
  /** Where the file was found. */
  file: string;
  quarantinedAt: string;
  error: { kind: string; dbusName: string; message: string; details: Record<string, unknown> };
}

/** A name not taken yet in `dir`: the file's own, else with the time and a counter in front. */
function freeName(dir: string, name: string, at: string): string {
  if (!fs.existsSync(path.join(dir, name))) return name;
  const stamp = at.replace(/[:.]/g, '-');
  for (let n = 1; ; n++) {
    const candidate = `${stamp}-${n}-${name}`;
    if (!fs.existsSync(path.join(dir, candidate))) return candidate;
  }
}

/** Moves `file` into `dir` (same file system: a rename; a symbolic link is moved, not followed) after writing its reason; returns where it went. Throws, leaving `file` in place, when either step fails. */
export function quarantine(file: string, dir: string, error: SplicedError): string {
  const at = new Date().toISOString();
  const target = path.join(dir, freeName(dir, path.basename(file), at));
  const reason: QuarantineReason = {
    file,
    quarantinedAt: at,
    error: { kind: error.kind, dbusName: error.dbusName, message: error.message, details: { ...error.details } },
  };
  // Reason first: a crash in between leaves a reason without a file, never a file without its reason.
  const reasonFile = `${target}.reason.json`;
  writeWhole(reasonFile, JSON.stringify(reason, null, 2) + '\n', 0o600);
  faultPoint('quarantine-reason-written');
  try {
    fs.renameSync(file, target);
  } catch (err) {
    // The file stays where it was: no reason without its file.
    fs.rmSync(reasonFile, { force: true });
    throw err;
  }
  return target;
}
