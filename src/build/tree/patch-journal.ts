// Applies a patch to the cached tree in place and takes it back out, so the 1.5 GB tree is never copied.
// Before the first byte changes, the original of every touched file is saved with a journal; whoever takes the
// tree lock next restores from that journal, so a crash between apply and restore never leaves the cache patched.
// Callers hold the tree lock (src/build/lock.ts) around apply and restore.

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import type { ParsedPatch } from '../patch/patchfile';
import { run, RunResult, tail } from '../process';
import { make } from './kmake';
import type { Tree } from './tree';

interface JournalEntry {
  path: string;
  /** False for a file the patch creates: restoring deletes it. */
  existed: boolean;
  mtimeMs?: number;
}

interface Journal {
  patchSha256: string;
  files: JournalEntry[];
}

function journalDir(tree: Tree): string {
  return path.join(tree.cacheDir, 'journal');
}

function patchArgs(dir: string, patch: ParsedPatch): string[] {
  // --fuzz=0: context must match exactly (line offsets are fine); a fuzzy hunk may land in the wrong place.
  return [`-p${patch.strip}`, '--batch', '--forward', '--fuzz=0', '--no-backup-if-mismatch', '-r', '-', '-d', dir];
}

/**
 * Checks that the patch applies cleanly to the pristine tree; refuses with patch's own report otherwise. It is
 * applied for real to copies of the touched files (`patch --dry-run` cannot follow a series that changes a file
 * twice): their patched text is returned, by path (null: the patch deletes the file).
 */
export async function checkApplies(tree: Tree, patch: ParsedPatch): Promise<Map<string, Buffer | null>> {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'spliced-check-'));
  const built = patch.files.filter((f) => f.role !== 'other');
  const patched = new Map<string, Buffer | null>();
  let res: RunResult;
  try {
    for (const file of built) {
      const source = path.join(tree.sourceDir, file.path);
      if (!(await fs.stat(source).catch(() => undefined))?.isFile()) continue;
      await fs.mkdir(path.dirname(path.join(scratch, file.path)), { recursive: true });
      await fs.copyFile(source, path.join(scratch, file.path));
    }
    res = await run('patch', patchArgs(scratch, patch), { input: patch.kernelText });
    if (res.code === 0) for (const file of built) patched.set(file.path, await fs.readFile(path.join(scratch, file.path)).catch(() => null));
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  if (res.code !== 0) {
    throw new SplicedError(
      'BuildFailed',
      `the patch does not apply to linux-source-6.1 ${tree.sourceVersion}:\n${tail(res.stdout + res.stderr)}`,
      { kernel: tree.release, debianVersion: tree.debianVersion, sourceVersion: tree.sourceVersion },
    );
  }
  return patched;
}

/** Saves the originals, then applies the patch to the tree. */
export async function applyWithJournal(tree: Tree, patch: ParsedPatch): Promise<void> {
  const dir = journalDir(tree);
  await fs.rm(dir, { recursive: true, force: true });
  const entries: JournalEntry[] = [];
  for (const file of patch.files.filter((f) => f.role !== 'other')) {
    const source = path.join(tree.sourceDir, file.path);
    const stat = await fs.stat(source).catch(() => undefined);
    if (stat) {
      const saved = path.join(dir, 'orig', file.path);
      await fs.mkdir(path.dirname(saved), { recursive: true });
      await fs.copyFile(source, saved);
    }
    entries.push({ path: file.path, existed: stat !== undefined, mtimeMs: stat?.mtimeMs });
  }
  const journal: Journal = { patchSha256: patch.sha256, files: entries };
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'journal.json.tmp'), JSON.stringify(journal, null, 2));
  await fs.rename(path.join(dir, 'journal.json.tmp'), path.join(dir, 'journal.json'));

  const res = await run('patch', patchArgs(tree.sourceDir, patch), { input: patch.kernelText });
  if (res.code !== 0) {
    await restoreTree(tree);
    throw new SplicedError('BuildFailed', `applying the patch failed:\n${tail(res.stdout + res.stderr)}`);
  }
}

/**
 * Files kbuild made while the tree was patched: anything newer than the journal. Besides the post objects, a patched
 * header makes `prepare` regenerate arch/x86/kernel/asm-offsets.s, scripts/mod/devicetable-offsets.s, modpost, …
 * from the patched source; deleting them makes the next make regenerate them from the pristine one.
 */
async function filesMadeWhilePatched(tree: Tree, journalFile: string): Promise<string[]> {
  // A file or directory that vanishes during the walk is not an error: kbuild's `.tmp_<pid>` probe directories of a
  // make running in the tree (seen failing restores while a test helper ran make there outside the lock);
  // -ignore_readdir_race does not cover a directory gone before find opens it.
  const res = await run('find', ['.', '-ignore_readdir_race', '-newer', journalFile, '-type', 'f', '-print0'], { cwd: tree.sourceDir });
  const vanished = (line: string) => line === '' || line.endsWith(': No such file or directory');
  if (res.code !== 0 && !res.stderr.split('\n').every(vanished)) throw new SplicedError('Internal', `listing the files built from the patched tree failed: ${tail(res.stderr)}`);
  return res.stdout.split('\0').filter(Boolean);
}

/**
 * Puts back every file a journal names, deletes whatever was built from the patched sources, and deletes the
 * journal. Returns whether a patched tree was found (the build was interrupted between apply and restore when a
 * caller finds one before applying).
 */
export async function restoreTree(tree: Tree): Promise<boolean> {
  const dir = journalDir(tree);
  const journalFile = path.join(dir, 'journal.json');
  const text = await fs.readFile(journalFile, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const journal = JSON.parse(text) as Journal;
    const made = await filesMadeWhilePatched(tree, journalFile);
    for (const file of made) await fs.rm(path.join(tree.sourceDir, file), { force: true });
    for (const entry of journal.files) {
      const target = path.join(tree.sourceDir, entry.path);
      if (entry.existed) {
        await fs.copyFile(path.join(dir, 'orig', entry.path), target);
        if (entry.mtimeMs !== undefined) await fs.utimes(target, new Date(), new Date(entry.mtimeMs));
      } else {
        await fs.rm(target, { force: true });
      }
    }
    // Regenerate now, from the pristine sources, what kbuild's prepare step had rebuilt from patched ones:
    // otherwise every later build would rebuild it while patched and delete it again.
    const patched = new Set(journal.files.map((f) => path.posix.normalize(f.path)));
    if (made.some((f) => !patched.has(path.posix.normalize(f)) && !/\.(o|cmd|d)$/.test(f))) {
      const res = await make(tree, ['modules_prepare']);
      if (res.code !== 0) throw new SplicedError('BuildFailed', `re-preparing the restored tree failed:\n${tail(res.stderr)}`);
    }
  }
  // Without journal.json the tree was never touched: the directory is just an unfinished save.
  await fs.rm(dir, { recursive: true, force: true });
  return text !== undefined;
}
