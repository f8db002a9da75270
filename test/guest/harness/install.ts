// Stages spliced for installation in a guest the way a package would lay it out (see docs/files.md):
// program under /usr/lib/spliced, commands in /usr/bin, unit, bus policy, activation file and polkit actions in place.
// The in-guest half is install-spliced.sh, which the guest suites run at their first boot.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { repoRoot } from './image';

/** Build artefacts that a running daemon never reads: native build intermediates and sources. */
const NOT_SHIPPED = new Set(['obj', 'obj.target', 'deps', '.deps', 'test_extension.node']);

/** The node_modules folders the program needs at run time, as the Debian package ships them (packaging/runtime-modules). */
function runtimePackages(root: string): string[] {
  const out = execFileSync(join(root, 'packaging/runtime-modules'), { cwd: root, encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((dir) => join(root, dir));
}

/** Copies the built program and its system files into `workDir/install`; returns the path the guest sees. */
export function stageInstall(workDir: string): string {
  const root = repoRoot();
  const stage = join(workDir, 'install');
  const lib = join(stage, 'lib');
  mkdirSync(lib, { recursive: true });
  if (!existsSync(join(root, 'dist/src'))) throw new Error('dist/src missing: build with tsc first');
  cpSync(join(root, 'dist/src'), join(lib, 'dist/src'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  cpSync(join(root, 'package.json'), join(lib, 'package.json'));
  for (const pkg of runtimePackages(root)) {
    cpSync(pkg, join(lib, relative(root, pkg)), { recursive: true, filter: (src) => !NOT_SHIPPED.has(basename(src)) });
  }
  for (const dir of ['units', 'dbus']) cpSync(join(root, dir), join(stage, dir), { recursive: true });
  cpSync(join(root, 'test/guest/harness/install-spliced.sh'), join(stage, 'install-spliced.sh'));
  return '/mnt/work/install';
}
