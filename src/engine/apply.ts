// Apply one module (its content, as the door read it): keep a copy, check it is a livepatch for exactly this kernel build, write the intent, load it,
// then record the outcome (stack position, patched functions, superseded patches) in one transaction.

import { basename } from 'node:path';
import { asSplicedError, SplicedError } from '../errors';
import { SPLICE_MODINFO } from '../kernel/splice-modinfo';
import type { ModuleInfo } from '../kernel/types';
import { nowIso, type PatchRow, type StoredModule } from '../store';
import { buildOf, transitionOptions, type EngineContext } from './context';
import type { ProgressReporter } from './job';
import { isForRunningKernel } from './records';
import { refuseUnsignedModule } from './signatures';
import type { ApplyInput, ApplyOptions, PatchFunctionRecord, PatchOrigin } from './types';
import { faultPoint } from '../fault-point';

/** A patch's id: the first 12 hex digits of its module's sha256 (stable across reboots and renames). */
export function patchIdOf(sha256: string): string {
  return sha256.slice(0, 12);
}

const AUTOMATIC_ORIGINS: readonly PatchOrigin[] = ['drop-dir', 'feed'];

export interface ApplyOutcome {
  /** The recorded patch: applied on success; failed (or null if never recorded) on failure. */
  patch: PatchRow | null;
  error: SplicedError | null;
}

export async function applyModule(
  ctx: EngineContext,
  job: ProgressReporter,
  input: ApplyInput,
  options: ApplyOptions,
): Promise<ApplyOutcome> {
  const path = input.name;
  let row: (PatchRow & { intentId: number }) | null = null;
  let stored: StoredModule | null = null;
  let info: ModuleInfo | null = null;
  try {
    refuseWhenDisabled(ctx, path, options);
    job.report(5, 'copying the module into the state directory');
    stored = ctx.modules.put(input.content);
    job.report(15, 'reading the module information');
    info = await ctx.kernel.readModuleInfo(stored.path);
    checkModule(ctx, info, path, patchIdOf(stored.sha256));
    await refuseUnsignedModule(ctx, info, path);
    const recorded = (row = recordIntent(ctx, stored, info, options));
    faultPoint('apply-intent');
    job.report(30, 'loading the module and waiting for the livepatch transition');
    const load = await ctx.kernel.load(stored.path, transitionOptions(ctx.settings, options.transitionTimeoutMs));
    faultPoint('apply-loaded');
    job.report(90, 'recording the applied patch');
    await ctx.live.refresh();
    const functions = liveFunctions(ctx, load.patch);
    ctx.store.transaction(() => {
      ctx.store.removeIntent(recorded.intentId);
      ctx.store.markApplied(recorded.id, functions, nowIso());
      placeOnStack(ctx, recorded.id);
      ctx.store.addEvent({ kind: 'applied', patch: recorded, bootId: ctx.bootId, requestedBy: options.requestedBy });
      recordSuperseded(ctx, load.superseded, recorded);
    });
    faultPoint('apply-recorded');
    ctx.log.info({ patch: row.id, name: row.name, durationMs: load.durationMs, origin: options.origin }, 'patch applied');
    return { patch: ctx.store.patch(row.id)!, error: null };
  } catch (err) {
    const error = stored ? namingCallersFile(asSplicedError(err), stored.path, path) : asSplicedError(err);
    if (row !== null) {
      await refreshQuietly(ctx);
      const failed = row;
      ctx.store.transaction(() => {
        ctx.store.removeIntent(failed.intentId);
        // A patch that is still in a stack (applied before, e.g. held by the crash guard) keeps its place.
        if (ctx.store.stackPosition(failed.id) === null) ctx.store.markFailed(failed.id, error);
        ctx.store.addEvent({
          kind: 'failed',
          patch: failed,
          bootId: ctx.bootId,
          reason: `${error.kind}: ${error.message}`,
          requestedBy: options.requestedBy,
        });
      });
    }
    if (row === null && stored !== null) {
      const id = patchIdOf(stored.sha256);
      // The history still tells an admin why a file was refused; the refused file leaves no copy behind.
      ctx.store.addEvent({
        kind: 'failed',
        patch: { id, name: info?.name ?? basename(path), kernelRelease: info?.release ?? ctx.identity.release },
        bootId: ctx.bootId,
        reason: `${error.kind}: ${error.message}`,
        requestedBy: options.requestedBy,
      });
      if (ctx.store.patch(id) === undefined) ctx.modules.remove(stored.file);
    }
    ctx.log.error({ path, patch: row?.id, kind: error.kind, details: error.details }, `apply failed: ${error.message}`);
    return { patch: row && ctx.store.patch(row.id)!, error };
  }
}

/** The kill switch stops what comes on its own (drop directory, feed); an admin's explicit request still works. */
export function refuseWhenDisabled(ctx: EngineContext, path: string, options: ApplyOptions): void {
  if (ctx.settings.disabledReason !== null && AUTOMATIC_ORIGINS.includes(options.origin)) {
    throw new SplicedError('Disabled', `not applying ${path} automatically: ${ctx.settings.disabledReason}`, {
      reason: ctx.settings.disabledReason,
    });
  }
}

/** The kernel port saw our stored copy; the caller knows the file they gave. */
function namingCallersFile(error: SplicedError, storedPath: string, path: string): SplicedError {
  if (!error.message.includes(storedPath)) return error;
  return new SplicedError(error.kind, error.message.split(storedPath).join(path), {
    ...error.details,
    path,
    storedAs: storedPath,
  });
}

/** After a failed kernel action the live view must be re-read; a failure to read it is logged, not thrown over the first. */
export async function refreshQuietly(ctx: EngineContext): Promise<void> {
  try {
    await ctx.live.refresh();
  } catch (err) {
    ctx.log.error({ err: asSplicedError(err).message }, 'cannot read /sys/kernel/livepatch');
  }
}

function checkModule(ctx: EngineContext, info: ModuleInfo, path: string, id: string): void {
  if (!info.livepatch) {
    throw new SplicedError('NotLivepatchModule', `${path} is a kernel module but not a livepatch module`, { path });
  }
  const { release, buildId } = ctx.identity;
  if (info.release !== release) {
    throw new SplicedError('WrongKernel', `${path} was built for kernel ${info.release}, this is ${release}`, {
      path,
      moduleRelease: info.release,
      runningRelease: release,
    });
  }
  const declaredBuildId = info.fields[SPLICE_MODINFO.buildId]?.[0];
  if (declaredBuildId !== undefined && declaredBuildId !== buildId) {
    throw new SplicedError(
      'WrongKernel',
      `${path} was built for another build of ${release} (build id ${declaredBuildId}, running ${buildId})`,
      { path, moduleBuildId: declaredBuildId, runningBuildId: buildId },
    );
  }
  // sysfs and the kernel port know patches by name only: one name, one patch in the running kernel's stack.
  const owner = ctx.store
    .patchesNamed(info.name)
    .find((p) => isForRunningKernel(p, ctx) && ctx.store.stackPosition(p.id) !== null);
  if (ctx.live.get(info.name) !== undefined) {
    throw new SplicedError(
      'AlreadyLoaded',
      `a livepatch named ${info.name} is already loaded${owner ? ` (patch ${owner.id})` : ''}`,
      { name: info.name, ...(owner ? { patchId: owner.id } : {}) },
    );
  }
  if (owner && owner.id !== id) {
    throw new SplicedError(
      'AlreadyLoaded',
      `patch ${owner.id} with the livepatch name ${info.name} is in the recorded stack (not loaded now); revert it first`,
      { name: info.name, patchId: owner.id },
    );
  }
}

/** Record the patch (first time) and the intent to load it, in one transaction. */
function recordIntent(
  ctx: EngineContext,
  stored: StoredModule,
  info: ModuleInfo,
  options: ApplyOptions,
): PatchRow & { intentId: number } {
  return ctx.store.transaction(() => {
    const id = patchIdOf(stored.sha256);
    let row = ctx.store.patch(id);
    if (row === undefined) {
      row = newPatchRow(ctx, stored, info, options.origin);
      ctx.store.insertPatch(row);
    } else {
      ctx.store.setOrigin(id, options.origin);
    }
    const intentId = ctx.store.addIntent('apply', id, ctx.bootId, options.requestedBy ?? null);
    return { ...row, intentId };
  });
}

/** A patch as first recorded, from its stored module and that module's .modinfo. */
export function newPatchRow(ctx: EngineContext, stored: StoredModule, info: ModuleInfo, origin: PatchOrigin): PatchRow {
  return {
    id: patchIdOf(stored.sha256),
    sha256: stored.sha256,
    name: info.name,
    origin,
    kernelRelease: ctx.identity.release,
    kernelBuildId: ctx.identity.buildId,
    description: info.description ?? info.fields.description?.[0] ?? '',
    cves: splitList(info.fields[SPLICE_MODINFO.cves]),
    version: info.fields[SPLICE_MODINFO.version]?.[0] ?? null,
    functions: [],
    moduleFile: stored.file,
    status: 'new',
    addedAt: nowIso(),
    appliedAt: null,
    lastError: null,
    heldReason: null,
  };
}

/** `spliced.cves` may be given once per CVE or as one comma/space separated list. */
function splitList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(/[\s,]+/)).filter((v) => v.length > 0);
}

export function liveFunctions(ctx: EngineContext, name: string): PatchFunctionRecord[] {
  const live = ctx.live.get(name);
  return (live?.objects ?? []).flatMap((object) =>
    object.functions.map((f) => ({ object: object.name, name: f.name, sympos: f.sympos })),
  );
}

/**
 * A new patch goes on top. One already in the stack (not loaded at boot, now applied by hand) keeps its place unless
 * a live patch lies above it: then it is the newest in the kernel, so it moves to the top as the kernel sees it.
 */
function placeOnStack(ctx: EngineContext, patchId: string): void {
  const kernel = buildOf(ctx.identity);
  const stack = ctx.store.stack(kernel);
  const index = stack.findIndex((entry) => entry.patchId === patchId);
  const liveAbove = stack.slice(index + 1).some((entry) => ctx.live.get(ctx.store.patch(entry.patchId)!.name));
  if (index < 0 || liveAbove) ctx.store.pushOnStack(patchId, kernel);
}

function recordSuperseded(ctx: EngineContext, names: string[], by: PatchRow): void {
  for (const name of names) {
    for (const old of ctx.store.patchesNamed(name)) {
      if (old.id === by.id || ctx.store.stackPosition(old.id) === null) continue;
      ctx.store.setStatus(old.id, 'superseded');
      ctx.store.removeFromStack(old.id);
      ctx.store.addEvent({ kind: 'superseded', patch: old, bootId: ctx.bootId, reason: `replaced by ${by.id}` });
    }
  }
}
