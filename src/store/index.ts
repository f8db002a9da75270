export { Store, nowIso } from './store';
export type { SetAsideDatabase } from './store';
export type { PatchRow, PatchStatus, StackEntry, Intent, IntentAction, Session, KernelBuild, NewEvent } from './store';
export { ModuleStore } from './module-store';
export { fsyncPath } from './fsync';
export type { StoredModule } from './module-store';
export { migrate, MIGRATIONS, SCHEMA_VERSION } from './migrations';
