// The livepatch backend spliced drives the kernel through.
export { KernelBackend, DEFAULT_TRANSITION_OPTIONS } from './backend';
export type { KernelBackendOptions, LoadOptions } from './backend';
export type * from './types';
