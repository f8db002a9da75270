// Start-up reconciliation of intents left by a daemon that died between writing an intent and its outcome.
// Intents of an earlier boot: that kernel state is gone, so the request is settled in the store only. Intents of
// this boot (the daemon was killed): the kernel went on without us, so live sysfs decides what happened.

import type { LivePatch } from '../kernel/types';
import type { Intent, PatchRow } from '../store';
import { nowIso } from '../store';
import { liveFunctions } from './apply';
import { buildOf, removeFromKernel, transitionOptions, type EngineContext } from './context';

const SETTLE_POLL_MS = 250;

export interface Reconciliation {
  intent: Intent;
  patchId: string;
  /** What was found and what was recorded, for the log and the history. */
  finding: string;
}

export async function reconcileIntents(ctx: EngineContext): Promise<Reconciliation[]> {
  const results: Reconciliation[] = [];
  for (const intent of ctx.store.pendingIntents()) {
    const patch = ctx.store.patch(intent.patchId)!;
    const finding =
      intent.bootId === ctx.bootId ? await reconcileThisBoot(ctx, intent, patch) : reconcileEarlierBoot(ctx, intent, patch);
    ctx.store.removeIntent(intent.id);
    ctx.log.warn({ patch: patch.id, action: intent.action, intentBoot: intent.bootId }, `reconciled: ${finding}`);
    results.push({ intent, patchId: patch.id, finding });
  }
  return results;
}

function reconcileEarlierBoot(ctx: EngineContext, intent: Intent, patch: PatchRow): string {
  if (intent.action === 'revert') {
    const finding = 'the revert was interrupted by the end of an earlier boot; recorded as reverted';
    recordReverted(ctx, intent, patch, finding);
    return finding;
  }
  const finding = 'the apply was interrupted by the end of an earlier boot; not applied';
  recordApplyFailed(ctx, intent, patch, finding);
  return finding;
}

async function reconcileThisBoot(ctx: EngineContext, intent: Intent, patch: PatchRow): Promise<string> {
  let live = await settled(ctx, patch.name);
  if (live?.transition) {
    // Still switching tasks after the whole timeout: undo it, as the kernel port would have.
    await ctx.kernel.revert(patch.name, transitionOptions(ctx.settings));
    await ctx.live.refresh();
    live = undefined;
  }
  if (intent.action === 'apply') {
    if (live?.enabled) {
      const finding = 'the daemon stopped during the apply; the kernel finished it; recorded as applied';
      ctx.store.transaction(() => {
        ctx.store.markApplied(patch.id, liveFunctions(ctx, patch.name), nowIso());
        // A reapply at boot (already in the stack) keeps its place; a new apply goes on top.
        if (ctx.store.stackPosition(patch.id) === null) ctx.store.pushOnStack(patch.id, buildOf(ctx.identity));
        event(ctx, 'applied', intent, patch, finding);
      });
      return finding;
    }
    await removeFromKernel(ctx, patch.name);
    const finding = 'the daemon stopped during the apply; the kernel did not finish it; not applied';
    recordApplyFailed(ctx, intent, patch, finding);
    return finding;
  }
  if (live?.enabled) {
    const finding = 'the daemon stopped before the kernel reverted the patch; it stays applied';
    event(ctx, 'reconciled', intent, patch, finding);
    return finding;
  }
  await removeFromKernel(ctx, patch.name);
  const finding = 'the daemon stopped during the revert; finished it; recorded as reverted';
  recordReverted(ctx, intent, patch, finding);
  return finding;
}

/** Wait until the named patch is not in transition (or gone), at most the transition timeout. */
async function settled(ctx: EngineContext, name: string): Promise<LivePatch | undefined> {
  const deadline = Date.now() + ctx.settings.transitionTimeoutMs;
  await ctx.live.refresh();
  while (ctx.live.get(name)?.transition && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    await ctx.live.refresh();
  }
  return ctx.live.get(name);
}

function recordReverted(ctx: EngineContext, intent: Intent, patch: PatchRow, finding: string): void {
  ctx.store.transaction(() => {
    ctx.store.setStatus(patch.id, 'reverted');
    ctx.store.removeFromStack(patch.id);
    event(ctx, 'reverted', intent, patch, finding);
  });
}

function recordApplyFailed(ctx: EngineContext, intent: Intent, patch: PatchRow, finding: string): void {
  ctx.store.transaction(() => {
    // A patch still in a stack (re-applied after the crash guard held it) keeps its place there.
    if (ctx.store.stackPosition(patch.id) === null) ctx.store.markFailed(patch.id, { kind: 'Internal', message: finding });
    event(ctx, 'failed', intent, patch, finding);
  });
}

function event(
  ctx: EngineContext,
  kind: 'applied' | 'reverted' | 'failed' | 'reconciled',
  intent: Intent,
  patch: PatchRow,
  reason: string,
): void {
  ctx.store.addEvent({ kind, patch, bootId: ctx.bootId, reason, requestedBy: intent.requestedBy });
}

