// The QEMU guest test bed: a cached Debian 12 image with Debian's own kernels, and runs of test scripts inside it.
export { DEFAULT_KERNEL, GUEST_KERNELS, ensureImage, repoRoot, testCacheRoot } from './image';
export type { GuestImage } from './image';
export { REBOOT_EXIT_CODE, runGuest } from './vm';
export type { GuestResult, GuestRun, GuestDisk } from './vm';
export { readChecks, reportChecks } from './checks';
export type { GuestCheck } from './checks';
export { stageInstall } from './install';
export { kernelTreeDisks, warmPreObjects } from './trees';
export { stagePackage } from './package-repo';
export type { StagedPackage } from './package-repo';
export { stageFeedRepo } from './feed-repo';
