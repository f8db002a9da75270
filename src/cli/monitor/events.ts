// What `splicectl monitor` reports: spliced's signals (docs/dbus.md) turned into events. Pure: no bus here.

import { DBUS_ERROR_PREFIX } from '../../errors';

export type MonitorEvent =
  | { event: 'applied'; at: Date; id: string; name: string; description: string | null; version: string | null; cves: string[] }
  | { event: 'reverted'; at: Date; id: string; name: string }
  | {
      event: 'failed';
      at: Date;
      id: string | null;
      name: string | null;
      target: string;
      errorKind: string;
      errorName: string;
      errorMessage: string;
    }
  | { event: 'reboot-required'; at: Date; reasons: string[] }
  /** The distro feed offers a newer Debian kernel source; `policy` says what spliced does with it. */
  | { event: 'update-available'; at: Date; sourceVersion: string; imagePackage: string | null; policy: string }
  | { event: 'spliced-stopped'; at: Date }
  | { event: 'spliced-started'; at: Date };

export type EventName = MonitorEvent['event'];

/** The Manager signals an event comes from, with their D-Bus signatures (dbus/org.spliced.Spliced1.Manager.xml). */
const SIGNATURES: Record<string, string> = { PatchApplied: 'ss', PatchReverted: 'ss', PatchFailed: 'sssss', UpdateAvailable: 'sss' };

/** A Manager signal's event, or null for a signal of another member or shape. `applied` still lacks its CVEs. */
export function eventOfSignal(member: string, signature: string, body: unknown[], at: Date): MonitorEvent | null {
  if (SIGNATURES[member] !== signature) return null;
  const [a, b, c, d, e] = body as string[];
  switch (member) {
    case 'PatchApplied':
      return { event: 'applied', at, id: a, name: b, description: null, version: null, cves: [] };
    case 'PatchReverted':
      return { event: 'reverted', at, id: a, name: b };
    case 'UpdateAvailable':
      return { event: 'update-available', at, sourceVersion: a, imagePackage: b || null, policy: c };
    default:
      return {
        event: 'failed',
        at,
        id: a || null,
        name: b || null,
        target: c,
        errorKind: d.startsWith(DBUS_ERROR_PREFIX) ? d.slice(DBUS_ERROR_PREFIX.length) : d,
        errorName: d,
        errorMessage: e,
      };
  }
}

/** What a GetPatch dictionary adds to an `applied` event (missing or mistyped keys leave it as it was). */
export function withPatchDetails(e: MonitorEvent, patch: Record<string, unknown>): MonitorEvent {
  if (e.event !== 'applied') return e;
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  const cves = Array.isArray(patch.cves) ? patch.cves.filter((c): c is string => typeof c === 'string') : [];
  return { ...e, description: text(patch.description), version: text(patch.version), cves };
}

export interface RebootState {
  required: boolean;
  reasons: string[];
}

export const NO_REBOOT: RebootState = { required: false, reasons: [] };

/** The Manager's reboot properties after a change (PropertiesChanged carries only what changed). */
export function nextRebootState(prev: RebootState, changed: Record<string, unknown>): RebootState {
  return {
    required: typeof changed.RebootRequired === 'boolean' ? changed.RebootRequired : prev.required,
    reasons: Array.isArray(changed.RebootReasons) ? changed.RebootReasons.map(String) : prev.reasons,
  };
}

/** A reboot became required, or its reasons changed while it is: one event; anything else: none. */
export function rebootEvent(prev: RebootState, next: RebootState, at: Date): MonitorEvent | null {
  if (!next.required) return null;
  if (prev.required && JSON.stringify(prev.reasons) === JSON.stringify(next.reasons)) return null;
  return { event: 'reboot-required', at, reasons: next.reasons };
}
