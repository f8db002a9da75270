// Bounds on what one caller can make the daemon hold or compute (docs/dbus.md): a call beyond them is InvalidArgument,
// a call beyond what one user may have waiting is LimitExceeded.

import { SplicedError } from '../errors';

/** GetHistory returns at most this many events per call (page further with patch_id). */
export const MAX_HISTORY_PAGE = 1000;
/** History events in a page when the caller asks for 0. */
export const DEFAULT_HISTORY_PAGE = 100;
/** Patch ids are 12 hex digits and livepatch names at most 55 characters (MODULE_NAME_LEN - 1). */
export const MAX_ID_CHARS = 256;

/**
 * Method calls one uid (root too) may have waiting for their turn (src/bus/fair-dispatch.ts), and the bytes they may
 * add up to. A client waits for its answers (splicectl has one call out); the flood test keeps up to ≈ 160 waiting.
 * The bus's max_connections_per_user (256) times these bounds every user's calls not yet placed under a uid.
 */
export const MAX_WAITING_CALLS_PER_CALLER = 256;
export const MAX_WAITING_BYTES_PER_CALLER = 256 * 1024;

export function checkId(id: string): string {
  if (id.length > MAX_ID_CHARS) {
    const message = `a patch id or name is at most ${MAX_ID_CHARS} characters, got ${id.length}`;
    throw new SplicedError('InvalidArgument', message);
  }
  return id;
}

/** The page size of GetHistory's `limit` argument (0: the default). */
export function historyPage(limit: number): number {
  if (limit > MAX_HISTORY_PAGE) {
    const message = `limit must be at most ${MAX_HISTORY_PAGE} events per page, got ${limit}`;
    throw new SplicedError('InvalidArgument', message);
  }
  return limit === 0 ? DEFAULT_HISTORY_PAGE : limit;
}
