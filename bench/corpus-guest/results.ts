// The guest half's results as kept beside the corpus (DIR/guest-results.json): one per working splice tried in the
// guest, with the corpus file and the sha256 of the module tried (a rebuilt module has no result until tried again).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestOutcome } from './run';

export interface CorpusGuestResult extends GuestOutcome {
  file: string;
  sha256: string;
}

export function readGuestResults(dir: string): CorpusGuestResult[] {
  const file = join(dir, 'guest-results.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CorpusGuestResult[]) : [];
}

export const moduleSha256 = (module: string) => createHash('sha256').update(readFileSync(module)).digest('hex');
