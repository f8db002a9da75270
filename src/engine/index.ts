export { SplicedEngine } from './engine';
export type { EngineDeps, StartReport } from './engine';
export type { EngineLog, EngineSettings } from './context';
export { patchIdOf } from './apply';
export { killSwitchReason } from './kill-switch';
export type { KillSwitchPaths } from './kill-switch';
export * from './types';
