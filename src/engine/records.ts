// How a stored patch looks to callers in this boot: its state combines what the store recorded with what is live.

import type { PatchRow } from '../store';
import type { EngineContext } from './context';
import type { PatchRecord, PatchState } from './types';

export function isForRunningKernel(row: PatchRow, ctx: EngineContext): boolean {
  return row.kernelRelease === ctx.identity.release && row.kernelBuildId === ctx.identity.buildId;
}

/**
 * `notLoaded` holds why a patch of the recorded stack was not loaded at this boot (kill switch, guard, failure);
 * `stackPosition` is the row's position in its kernel's stack, null when in none.
 */
export function toRecord(
  row: PatchRow,
  ctx: EngineContext,
  notLoaded: ReadonlyMap<string, string>,
  stackPosition: number | null,
): PatchRecord {
  const { state, reason } = stateOf(row, ctx, notLoaded);
  return {
    id: row.id,
    name: row.name,
    sha256: row.sha256,
    origin: row.origin,
    kernelRelease: row.kernelRelease,
    kernelBuildId: row.kernelBuildId,
    description: row.description,
    cves: row.cves,
    version: row.version,
    functions: row.functions,
    state,
    stateReason: reason,
    stackPosition,
    addedAt: row.addedAt,
    appliedAt: row.appliedAt,
    lastError: row.lastError,
  };
}

function stateOf(
  row: PatchRow,
  ctx: EngineContext,
  notLoaded: ReadonlyMap<string, string>,
): { state: PatchState; reason: string | null } {
  const running = isForRunningKernel(row, ctx);
  switch (row.status) {
    case 'applied':
      if (!running) {
        return {
          state: 'not-applicable',
          reason: `built for ${row.kernelRelease} (build id ${row.kernelBuildId.slice(0, 12)}); kept for when it runs again`,
        };
      }
      if (ctx.live.isApplied(row.name)) return { state: 'applied', reason: null };
      return {
        state: 'not-loaded',
        reason: notLoaded.get(row.id) ?? row.heldReason ?? 'recorded as applied but not loaded in the kernel',
      };
    case 'new':
      return { state: 'not-loaded', reason: 'being applied' };
    case 'failed':
      return { state: 'failed', reason: row.lastError?.message ?? null };
    case 'reverted':
      return { state: 'reverted', reason: null };
    case 'superseded':
      return { state: 'superseded', reason: null };
  }
}
