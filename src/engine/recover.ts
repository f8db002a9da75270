// After a damaged database was moved aside at start (Store.openOrSetAside), rebuild the record of what runs: every
// livepatch live in /sys/kernel/livepatch whose module is in the module store (matched by the livepatch name in the
// copy's .modinfo, the copy checked against its sha256) is recorded as applied, in the kernel's load order.
// Live patches without a stored copy are not ours to record; stored copies not live stay in the store, unrecorded.

import { asSplicedError } from '../errors';
import type { ModuleInfo } from '../kernel/types';
import { nowIso, type SetAsideDatabase, type StoredModule } from '../store';
import { liveFunctions, newPatchRow } from './apply';
import { buildOf, type EngineContext } from './context';

/** Returns the ids recorded, bottom of the new stack first. */
export async function recordLivePatches(ctx: EngineContext, setAside: SetAsideDatabase): Promise<string[]> {
  await ctx.live.refresh();
  const storedByName = new Map<string, { stored: StoredModule; info: ModuleInfo }>();
  for (const stored of ctx.modules.list()) {
    try {
      const info = await ctx.kernel.readModuleInfo(ctx.modules.verify(stored.file, stored.sha256, stored.file));
      if (ctx.live.get(info.name) !== undefined) storedByName.set(info.name, { stored, info });
    } catch (err) {
      const error = asSplicedError(err);
      ctx.log.warn({ file: stored.path, kind: error.kind }, `recovery skips ${stored.file}: ${error.message}`);
    }
  }
  const recorded: string[] = [];
  for (const live of ctx.live.all()) {
    const found = storedByName.get(live.name);
    if (!found) {
      const why = `recovery: livepatch ${live.name} is live but its module is not in the store; not recorded`;
      ctx.log.warn({ name: live.name }, why);
      continue;
    }
    // The origin of the request is lost with the database; `tool` marks a record made by spliced itself.
    const row = newPatchRow(ctx, found.stored, found.info, 'tool');
    ctx.store.transaction(() => {
      ctx.store.insertPatch(row);
      ctx.store.markApplied(row.id, liveFunctions(ctx, live.name), nowIso());
      ctx.store.pushOnStack(row.id, buildOf(ctx.identity));
    });
    recorded.push(row.id);
  }
  const reason =
    `the database was damaged (${setAside.reason}) and was moved to ${setAside.path}; rebuilt from ` +
    `/sys/kernel/livepatch and the module store: ${recorded.length} live patches recorded; ` +
    'earlier history is in the moved file';
  const noPatch = { id: '', name: '', kernelRelease: ctx.identity.release };
  ctx.store.addEvent({ kind: 'history-lost', patch: noPatch, bootId: ctx.bootId, reason });
  ctx.log.error({ setAside: setAside.path, recorded }, reason);
  return recorded;
}
