import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** The repository root (this file runs from dist/test/support). */
export const REPO = path.resolve(__dirname, '../../..');

let publicCopy: string | undefined;

/**
 * A copy of what a program run as an unprivileged user needs (dist/, node_modules/, package.json) in a directory any
 * user can enter. The checkout itself may sit under a directory only root can enter (a clone in /root): tests that act
 * as NOBODY run the CLI from here. Made once per test process (hard links where the filesystem allows), removed at exit.
 */
export function publicRepo(): string {
  if (publicCopy) return publicCopy;
  const dir = mkdtempSync(path.join(tmpdir(), 'spliced-public-'));
  chmodSync(dir, 0o755);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const entries = ['dist', 'node_modules', 'package.json'].map((entry) => path.join(REPO, entry));
  try {
    execFileSync('cp', ['-al', ...entries, dir]);
  } catch {
    // another filesystem: no hard links across it
    rmSync(dir, { recursive: true, force: true });
    execFileSync('mkdir', ['-m', '755', dir]);
    execFileSync('cp', ['-a', ...entries, dir]);
  }
  publicCopy = dir;
  return dir;
}

/** splicectl's entry point as the given user can reach it: the checkout for root, the public copy for anyone else. */
export function splicectlMain(uid?: number): string {
  const root = uid === undefined || uid === 0 ? REPO : publicRepo();
  return path.join(root, 'dist/src/cli/main.js');
}
