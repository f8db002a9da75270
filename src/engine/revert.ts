// Revert patches in an order the kernel allows. 6.1 has no stack_order, so spliced keeps the order and reverts the
// topmost live patch first; reverting one with live patches above it needs `downTo` (those go first, topmost first),
// or a cumulative patch above that carries its fixes (`supersededBy`: the feed retiring its older splice).

import { asSplicedError, SplicedError } from '../errors';
import type { PatchRow } from '../store';
import { refreshQuietly } from './apply';
import { removeFromKernel, transitionOptions, type EngineContext } from './context';
import type { EngineJob } from './job';
import { isForRunningKernel } from './records';
import type { RevertOptions } from './types';
import { faultPoint } from '../fault-point';

export interface RevertOutcome {
  /** Reverted rows, topmost first. */
  reverted: PatchRow[];
  /** The patch whose revert failed, with the error, if one did. */
  failed: { patch: PatchRow; error: SplicedError } | null;
}

/** The patches to revert, topmost first; throws RevertOrder when live patches above it would have to go too. */
export function planRevert(ctx: EngineContext, patch: PatchRow, options: RevertOptions): PatchRow[] {
  if (patch.status !== 'applied') {
    throw new SplicedError('InvalidArgument', `patch ${patch.id} (${patch.name}) is not applied; it is ${patch.status}`, {
      patchId: patch.id,
      status: patch.status,
    });
  }
  const stack = ctx.store.stack({ release: patch.kernelRelease, buildId: patch.kernelBuildId });
  const position = stack.findIndex((entry) => entry.patchId === patch.id);
  const above = stack
    .slice(position + 1)
    .reverse()
    .map((entry) => ctx.store.patch(entry.patchId)!);
  if (options.downTo) return [...above, patch];
  if (options.supersededBy !== undefined) {
    if (!above.some((p) => p.id === options.supersededBy && isLive(ctx, p))) {
      throw new SplicedError('InvalidArgument', `patch ${options.supersededBy} is not live above ${patch.id}: it cannot supersede it`, {
        patchId: patch.id,
        supersededBy: options.supersededBy,
      });
    }
    return [patch];
  }
  // Entries above that are not live only exist in our record; they do not constrain the kernel.
  const liveAbove = above.filter((p) => isLive(ctx, p));
  if (isLive(ctx, patch) && liveAbove.length > 0) {
    const names = liveAbove.map((p) => `${p.id} (${p.name})`).join(', ');
    throw new SplicedError(
      'RevertOrder',
      `patch ${patch.id} (${patch.name}) has patches above it; revert these first, topmost first: ${names} ` +
        '(or revert down to it)',
      { patchId: patch.id, mustRevertFirst: liveAbove.map((p) => p.id) },
    );
  }
  return [patch];
}

export async function revertPatches(
  ctx: EngineContext,
  job: EngineJob,
  plan: PatchRow[],
  options: RevertOptions,
): Promise<RevertOutcome> {
  const reverted: PatchRow[] = [];
  for (const [index, patch] of plan.entries()) {
    const share = 100 / plan.length;
    job.report(index * share + 5, `reverting ${patch.id} (${patch.name})`);
    try {
      await revertOne(ctx, patch, options);
    } catch (err) {
      const error = asSplicedError(err);
      ctx.log.error({ patch: patch.id, kind: error.kind }, `revert failed: ${error.message}`);
      return { reverted, failed: { patch, error } };
    }
    reverted.push(ctx.store.patch(patch.id)!);
  }
  return { reverted, failed: null };
}

async function revertOne(ctx: EngineContext, patch: PatchRow, options: RevertOptions): Promise<void> {
  const requestedBy = options.requestedBy ?? null;
  const live = isLive(ctx, patch);
  // Anything of the running kernel may have a module left behind even when sysfs shows nothing: remove it too.
  const touchesKernel = isForRunningKernel(patch, ctx);
  const intentId = touchesKernel ? ctx.store.addIntent('revert', patch.id, ctx.bootId, requestedBy) : null;
  if (intentId !== null) {
    faultPoint('revert-intent');
    try {
      if (live) await ctx.kernel.revert(patch.name, transitionOptions(ctx.settings, options.transitionTimeoutMs));
      else await removeFromKernel(ctx, patch.name);
    } catch (err) {
      const error = asSplicedError(err);
      await refreshQuietly(ctx);
      ctx.store.transaction(() => {
        ctx.store.removeIntent(intentId);
        ctx.store.addEvent({
          kind: 'failed',
          patch,
          bootId: ctx.bootId,
          reason: `revert: ${error.kind}: ${error.message}`,
          requestedBy,
        });
      });
      throw error;
    }
    await ctx.live.refresh();
    faultPoint('revert-done');
  }
  ctx.store.transaction(() => {
    if (intentId !== null) ctx.store.removeIntent(intentId);
    const superseded = options.supersededBy !== undefined;
    ctx.store.setStatus(patch.id, superseded ? 'superseded' : 'reverted');
    ctx.store.removeFromStack(patch.id);
    ctx.store.addEvent({
      kind: superseded ? 'superseded' : 'reverted',
      patch,
      bootId: ctx.bootId,
      reason: superseded ? `replaced by ${options.supersededBy}` : live ? null : 'was not loaded; removed from the recorded stack only',
      requestedBy,
    });
  });
  ctx.log.info({ patch: patch.id, name: patch.name, wasLive: live }, 'patch reverted');
}

/** Loaded in the running kernel (in any state): a kernel action is needed to remove it. */
function isLive(ctx: EngineContext, patch: PatchRow): boolean {
  return isForRunningKernel(patch, ctx) && ctx.live.get(patch.name) !== undefined;
}
