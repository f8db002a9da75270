// What happens at start, before READY=1: the crash guard decides what must not be reapplied, then the recorded stack
// of this exact kernel build is reapplied bottom first. Patches already loaded are left alone (a daemon restart).
//
// Crash guard: every daemon session records its boot id, a heartbeat (alive_at) and, on an orderly stop, a clean-stop
// time. If the last session of the previous boot has no clean stop, that boot ended uncleanly (crash, power loss,
// or the daemon died and was not restarted), and its last kernel change is held: kept in the stack, not loaded,
// reported, until an admin applies it again.

import { asSplicedError } from '../errors';
import type { PatchRow } from '../store';
import { buildOf, transitionOptions, type EngineContext } from './context';
import { faultPoint } from '../fault-point';

export interface BootReport {
  /** Ids loaded at this start, bottom first. */
  reapplied: string[];
  /** Ids already live (left alone). */
  alreadyLoaded: string[];
  /** Ids the crash guard held at this start. */
  held: string[];
  /** Why each stack patch that is not live was not loaded. */
  notLoaded: Map<string, string>;
}

/**
 * Hold the last kernel change made before an unclean end of the previous boot: the patch whose apply (or boot reapply)
 * was still in the kernel's hands, else the patch loaded last if that was within the guard window before the boot's
 * last sign of life. Like Canonical Livepatch's insert lockfile, only the prime suspect is held; if the machine
 * crashes again, the next suspect is held at the next boot. Runs at the first session of a boot only, and before
 * intents are reconciled (an apply intent left by that boot is the evidence).
 */
export function applyCrashGuard(ctx: EngineContext, firstSessionOfBoot: boolean): string[] {
  if (!firstSessionOfBoot) return [];
  const previous = ctx.store.lastSessionOfPreviousBoot(ctx.bootId);
  if (previous === undefined || previous.cleanStopAt !== null) return [];
  const since = new Date(Date.parse(previous.aliveAt) - ctx.settings.crashGuardWindowMs).toISOString();
  const interrupted = ctx.store
    .pendingIntents()
    .filter((i) => i.bootId === previous.bootId && i.action === 'apply')
    .map((i) => i.patchId);
  const lastLoaded = ctx.store.eventsSince(previous.bootId, ['applied', 'reapplied-at-boot'], since).at(-1)?.patchId;
  const suspects = interrupted.length > 0 ? interrupted : lastLoaded ? [lastLoaded] : [];
  const stacked = new Set(ctx.store.stack(buildOf(ctx.identity)).map((e) => e.patchId));
  const held = [...new Set(suspects)].filter((id) => stacked.has(id));
  for (const id of held) {
    const patch = ctx.store.patch(id)!;
    const reason =
      `held by the crash guard: it was the last patch loaded before the previous boot (${previous.bootId}) ended ` +
      `uncleanly (last sign of life ${previous.aliveAt}); apply it again to reload it`;
    ctx.store.transaction(() => {
      ctx.store.setHeld(id, reason);
      ctx.store.addEvent({ kind: 'skipped-by-crash-guard', patch, bootId: ctx.bootId, reason });
    });
    ctx.log.warn({ patch: id, name: patch.name, previousBoot: previous.bootId }, reason);
  }
  return held;
}

/** Load the recorded stack of the running kernel build, bottom first; stop at the first patch that cannot be. */
export async function reapplyStack(ctx: EngineContext, held: string[]): Promise<BootReport> {
  const report: BootReport = { reapplied: [], alreadyLoaded: [], held, notLoaded: new Map() };
  // Patches above one that is not loaded were made (and run-pre checked) on top of it: do not load them without it.
  let missingBelow: PatchRow | null = null;
  await ctx.live.refresh();
  for (const entry of ctx.store.stack(buildOf(ctx.identity))) {
    const patch = ctx.store.patch(entry.patchId)!;
    if (ctx.live.get(patch.name) !== undefined) {
      report.alreadyLoaded.push(patch.id);
      continue;
    }
    const skip =
      ctx.settings.disabledReason !== null
        ? `not reapplied: ${ctx.settings.disabledReason}`
        : (patch.heldReason ??
          (missingBelow ? `not reapplied because ${missingBelow.id} (${missingBelow.name}) below it is not loaded` : null));
    if (skip !== null) {
      report.notLoaded.set(patch.id, skip);
      missingBelow ??= patch;
      continue;
    }
    // The intent lets the crash guard of the next boot see a reapply that crashed the machine.
    const intentId = ctx.store.addIntent('apply', patch.id, ctx.bootId, null);
    try {
      const stored = ctx.modules.verify(patch.moduleFile, patch.sha256, `${patch.name} (${patch.id})`);
      await ctx.kernel.load(stored, transitionOptions(ctx.settings));
      faultPoint('reapply-loaded');
      ctx.store.transaction(() => {
        ctx.store.removeIntent(intentId);
        ctx.store.addEvent({ kind: 'reapplied-at-boot', patch, bootId: ctx.bootId });
      });
      report.reapplied.push(patch.id);
      ctx.log.info({ patch: patch.id, name: patch.name, position: entry.position }, 'patch reapplied');
    } catch (err) {
      const error = asSplicedError(err);
      const reason = `reapply failed: ${error.kind}: ${error.message}`;
      ctx.store.transaction(() => {
        ctx.store.removeIntent(intentId);
        ctx.store.addEvent({ kind: 'failed', patch, bootId: ctx.bootId, reason });
      });
      report.notLoaded.set(patch.id, reason);
      missingBelow = patch;
      ctx.log.error({ patch: patch.id, name: patch.name, kind: error.kind }, reason);
    }
    await ctx.live.refresh();
  }
  return report;
}
