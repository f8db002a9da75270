// Where the backend looks for the kernel's interfaces. Tests point these at a fake tree; production uses the real ones.
export interface KernelRoots {
  /** sysfs mount point, normally /sys. */
  sys: string;
  /** procfs mount point, normally /proc. */
  proc: string;
}

export const REAL_ROOTS: KernelRoots = { sys: '/sys', proc: '/proc' };
