// Small ELF objects with a .modinfo section, compiled by the host's gcc: enough of a kernel module for the backend,
// which reads only .modinfo before handing the file to the (fake) loader.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let baseDir: string | undefined;
function freshDir(): string {
  if (!baseDir) {
    const base = mkdtempSync(join(tmpdir(), 'modinfo-'));
    process.once('exit', () => rmSync(base, { recursive: true, force: true }));
    baseDir = base;
  }
  return mkdtempSync(join(baseDir, 'm-'));
}

export function moduleFile(name: string, fields: Record<string, string>): string {
  const dir = freshDir();
  const modinfo = Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join('\\0');
  writeFileSync(
    join(dir, 'm.c'),
    `__attribute__((section(".modinfo"), used)) static const char modinfo[] = "${modinfo}";\nint init_module(void) { return 0; }\n`,
  );
  const path = join(dir, `${name}.ko`);
  execFileSync('gcc', ['-c', 'm.c', '-o', path], { cwd: dir });
  return path;
}

export const RELEASE = '6.1.0-56-amd64';

export function livepatchFile(name: string, release = RELEASE): string {
  return moduleFile(name, { name, vermagic: `${release} SMP preempt mod_unload modversions `, livepatch: 'Y' });
}
