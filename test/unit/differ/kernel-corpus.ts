// Kernel object pairs for the differ tests, compiled during test setup from the fixture kernel's prepared Debian tree
// (never committed; prepared through the builder on first use, see test/unit/build/kernel-tree.ts): each variant is
// the real translation unit with a text edit, compiled with the exact kbuild command of that object (read from its
// .cmd file) plus objtool, as the builder does.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Tree } from '../../../src/build/tree/tree';

/** The kbuild command (compile; objtool) of one object, made once in the tree if needed. */
function commandOf(tree: Tree, object: string): string {
  const cmdFile = join(tree.sourceDir, dirname(object), `.${object.split('/').pop()}.cmd`);
  if (!existsSync(cmdFile)) {
    const args = tree.makeArgs.map((a) => (a.startsWith('-j') ? '-j1' : a));
    execFileSync('make', [...args, object], { cwd: tree.sourceDir, stdio: 'ignore' });
  }
  const line = readFileSync(cmdFile, 'utf8').split('\n').find((l) => l.startsWith(`cmd_${object} :=`));
  if (!line) throw new Error(`no kbuild command for ${object}`);
  return line.slice(line.indexOf(':=') + 2).trim();
}

export interface Edit {
  /** Source file relative to the tree, e.g. "kernel/sched/core.c". */
  file: string;
  from: string | RegExp;
  to: string;
}

const cache = new Map<string, Buffer>();
const sourceDiffs = new Map<string, string>();

function unifiedDiff(before: string, after: string): string {
  try {
    execFileSync('diff', ['-u', before, after], { encoding: 'utf8' });
    return '';
  } catch (err) {
    return (err as { stdout: string }).stdout; // diff exits 1 when the files differ
  }
}

/** The unified diff of the source edits, as the patch gives it (after compileKernelObject with the same edits). */
export function sourceDiffOf(source: string, edits: readonly Edit[]): string {
  const diff = sourceDiffs.get(cacheKey(source, edits));
  if (diff === undefined) throw new Error(`compile ${source} with these edits first`);
  return diff;
}

function cacheKey(source: string, edits: readonly Edit[]): string {
  return JSON.stringify([source, edits.map((e) => [e.file, String(e.from), e.to])]);
}

/** Compiles `source` (relative path) with `edits` applied; returns the object's bytes. */
export function compileKernelObject(tree: Tree, source: string, edits: readonly Edit[] = []): Buffer {
  const key = cacheKey(source, edits);
  const known = cache.get(key);
  if (known) return known;
  const object = source.replace(/\.c$/, '.o');
  const command = commandOf(tree, object);
  const scratch = mkdtempSync(join(tmpdir(), 'differ-corpus-'));
  const copy = join(scratch, source);
  mkdirSync(dirname(copy), { recursive: true });
  let text = readFileSync(join(tree.sourceDir, source), 'utf8');
  for (const edit of edits) {
    if (edit.file !== source) continue;
    const next = text.replace(edit.from, edit.to);
    if (next === text) throw new Error(`edit did not apply to ${source}: ${String(edit.from)}`);
    text = next;
  }
  writeFileSync(copy, text);
  sourceDiffs.set(key, unifiedDiff(join(tree.sourceDir, source), copy));
  const output = join(scratch, object);
  // Same command, reading the edited copy: quoted includes still find the tree's neighbours, __FILE__ stays relative.
  const rewritten = command
    .replace(/-Wp,-MMD,\S+/, '')
    .replace(` -c -o ${object} ${source}`, ` -iquote ${join(tree.sourceDir, dirname(source))} -fmacro-prefix-map=${scratch}/= -c -o ${output} ${copy}`)
    .replace(new RegExp(`objtool(.*) ${object.replace(/[.]/g, '\\.')}\\s*$`), `objtool$1 ${output}`);
  let bytes: Buffer;
  try {
    execFileSync('sh', ['-c', rewritten], { cwd: tree.sourceDir, stdio: ['ignore', 'ignore', 'pipe'] });
    bytes = readFileSync(output);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  cache.set(key, bytes);
  return bytes;
}
