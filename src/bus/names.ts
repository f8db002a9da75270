// The names of spliced's D-Bus surface (docs/dbus.md, dbus/*.xml). Shared by the daemon's adapter and splicectl.

export const BUS_NAME = 'org.spliced.Spliced1';
export const MANAGER_PATH = '/org/spliced/Spliced1';
export const MANAGER_INTERFACE = 'org.spliced.Spliced1.Manager';
export const JOB_INTERFACE = 'org.spliced.Spliced1.Job';
const JOB_PATH_PREFIX = '/org/spliced/Spliced1/job/';

/** polkit actions (dbus/org.spliced.policy). */
export const ACTION_APPLY = 'org.spliced.apply';
export const ACTION_REVERT = 'org.spliced.revert';
export const ACTION_REFRESH = 'org.spliced.refresh';
export type PolkitAction = typeof ACTION_APPLY | typeof ACTION_REVERT | typeof ACTION_REFRESH;

export function jobPath(id: number): string {
  return JOB_PATH_PREFIX + id;
}
