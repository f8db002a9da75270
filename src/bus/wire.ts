// The engine's records in their D-Bus shapes (documented in docs/dbus.md and dbus/*.xml).

import { Variant } from 'dbus-next';
import { DBUS_ERROR_PREFIX } from '../errors';
import type { HistoryEvent, PatchRecord } from '../engine/types';

/** ISO 8601 → microseconds since the epoch, 0 for "never" (D-Bus convention, as systemd's *Timestamp properties). */
export function usec(iso: string | null): number {
  return iso === null ? 0 : Date.parse(iso) * 1000;
}

/**
 * One element of List(): (id, name, state, state_reason, kernel_release, stack_position, version, description,
 * applied_at, origin, cves).
 */
export type WirePatchRow = [string, string, string, string, string, number, string, string, number, string, string[]];

export function patchRow(p: PatchRecord): WirePatchRow {
  return [
    p.id,
    p.name,
    p.state,
    p.stateReason ?? '',
    p.kernelRelease,
    p.stackPosition ?? 0,
    p.version ?? '',
    p.description,
    usec(p.appliedAt),
    p.origin,
    p.cves,
  ];
}

/** GetPatch(): every field; keys whose value is unknown (null) are left out. */
export function patchDict(p: PatchRecord): Record<string, Variant> {
  const dict: Record<string, Variant> = {
    id: new Variant('s', p.id),
    name: new Variant('s', p.name),
    sha256: new Variant('s', p.sha256),
    origin: new Variant('s', p.origin),
    kernel_release: new Variant('s', p.kernelRelease),
    kernel_build_id: new Variant('s', p.kernelBuildId),
    description: new Variant('s', p.description),
    cves: new Variant('as', p.cves),
    functions: new Variant('a(ssu)', p.functions.map((f) => [f.object, f.name, f.sympos])),
    state: new Variant('s', p.state),
    added_at: new Variant('t', usec(p.addedAt)),
  };
  if (p.version !== null) dict.version = new Variant('s', p.version);
  if (p.stateReason !== null) dict.state_reason = new Variant('s', p.stateReason);
  if (p.stackPosition !== null) dict.stack_position = new Variant('u', p.stackPosition);
  if (p.appliedAt !== null) dict.applied_at = new Variant('t', usec(p.appliedAt));
  if (p.lastError !== null) {
    dict.last_error_name = new Variant('s', DBUS_ERROR_PREFIX + p.lastError.kind);
    dict.last_error_message = new Variant('s', p.lastError.message);
  }
  return dict;
}

/** One element of GetHistory(): (seq, at, kind, patch_id, patch_name, kernel_release, boot_id, reason, requested_by). */
export type HistoryRow = [number, number, string, string, string, string, string, string, string];

export function historyRow(e: HistoryEvent): HistoryRow {
  return [e.seq, usec(e.at), e.kind, e.patchId, e.patchName, e.kernelRelease, e.bootId, e.reason ?? '', e.requestedBy ?? ''];
}
