// The one way to run make in a kernel tree: the tree's arguments, and none of the environment variables that
// would make kbuild build differently from Debian (or break it: a parent make's jobserver in MAKEFLAGS).

import { run, RunResult } from '../process';

const KBUILD_ENV =
  /^(ARCH|SUBARCH|SRCARCH|CROSS_COMPILE|LLVM|LLVM_IAS|O|V|W|C|M|CC|LD|HOSTCC|KBUILD_\w+|KCFLAGS|KCPPFLAGS|KAFLAGS|KRUSTFLAGS|CFLAGS_\w+|LDFLAGS_\w+|INSTALL_\w+|MAKEFLAGS|MFLAGS|GNUMAKEFLAGS|MAKELEVEL|MAKEFILES|MAKEOVERRIDES)$/;

export interface MakeTree {
  sourceDir: string;
  makeArgs: string[];
}

export function make(tree: MakeTree, targets: readonly string[]): Promise<RunResult> {
  return run('make', [...tree.makeArgs, ...targets], { cwd: tree.sourceDir, unset: KBUILD_ENV });
}
