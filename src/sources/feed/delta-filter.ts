// Which changed files of a source delta matter to this kernel: the .c files its build compiles (kbuild's list,
// objects.json), .c files those #include, headers (which of their includers are touched is the builder's to
// find), and this architecture's assembly (code the kernel runs that no livepatch can replace: a fix there needs a
// reboot, so it is kept to be named as one). Everything else is left out of the delta and counted by reason; build files are named too, since a
// changed Makefile or Kconfig can change what is compiled.

import { NOT_KERNEL_DIRS } from '../../build/compile/include-graph';

export type KeptKind = 'compiled' | 'included' | 'header' | 'assembly';

export type IgnoredReason =
  | 'documentation'
  | 'tools'
  | 'other-arch'
  | 'build-file'
  | 'not-compiled'
  | 'not-a-regular-file'
  | 'other';

export type Classification = { kept: KeptKind } | { ignored: IgnoredReason };


export interface FilterContext {
  /** The arch/ directory of this kernel ("x86" for amd64 flavours). */
  arch: string;
  /** Whether kbuild compiles this .c file for the kernel's configuration. */
  isCompiled(file: string): boolean;
}

/** The first pass, without I/O; a .c file kbuild does not compile is 'not-compiled' until an includer is found. */
export function classify(file: string, isRegularFile: boolean, ctx: FilterContext): Classification {
  const [top, second] = file.split('/');
  if (top === 'Documentation') return { ignored: 'documentation' };
  if (NOT_KERNEL_DIRS.includes(top)) return { ignored: 'tools' };
  if (top === 'arch' && second !== ctx.arch) return { ignored: 'other-arch' };
  if (!isRegularFile) return { ignored: 'not-a-regular-file' };
  const name = file.slice(file.lastIndexOf('/') + 1);
  if (/^(Makefile|Kbuild|Kconfig)/.test(name) || name.endsWith('.mk')) return { ignored: 'build-file' };
  if (/\.[Ss]$/.test(name)) return { kept: 'assembly' };
  if (name.endsWith('.h')) return { kept: 'header' };
  if (name.endsWith('.c')) return ctx.isCompiled(file) ? { kept: 'compiled' } : { ignored: 'not-compiled' };
  return { ignored: 'other' };
}

/** The arch/ directory Debian's kernels of a flavour ("amd64", "cloud-amd64", "rt-amd64") are built for. */
export function archOfFlavour(flavour: string): string {
  const cpu = flavour.slice(flavour.lastIndexOf('-') + 1);
  return cpu === 'amd64' ? 'x86' : cpu;
}
