// The sources of the tree's host programs (fixdep, modpost, genksyms, objtool, sign-file, and directory-local
// generators like radeon's mkregtable): make rebuilds and runs them, as the builder's user, whenever one of their
// sources changed. A patch touching one would run code it brought before anything vetted it, so such a patch is
// refused before it is applied. Host compiles are told from kernel ones by the missing -nostdinc; their sources and
// dependencies come from kbuild's own .cmd files, and host programs not built yet from their directory's Makefile.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SplicedError } from '../../errors';
import type { ParsedPatch } from '../patch/patchfile';

const CMD_FILE = /^\..*\.cmd$/;
const HOST_COMPILE = /^cmd_\S+ := (gcc|cc|\S*-?gcc(-\d+)?|clang)\s/;

async function* cmdFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !entry.isSymbolicLink()) yield* cmdFiles(full);
    else if (entry.isFile() && CMD_FILE.test(entry.name)) yield full;
  }
}

/** The files a host compile's .cmd names (its `source_` and `deps_` lines), relative to the tree when inside it. */
export function hostCompileInputs(cmdText: string, cmdDir: string, sourceDir: string): string[] {
  const first = cmdText.slice(0, cmdText.indexOf('\n'));
  if (!HOST_COMPILE.test(first) || first.includes('-nostdinc')) return [];
  const inputs: string[] = [];
  let inDeps = false;
  for (const line of cmdText.split('\n')) {
    if (line.startsWith('source_')) inputs.push(line.slice(line.indexOf(':=') + 2).trim());
    else if (line.startsWith('deps_')) inDeps = true;
    else if (inDeps && line.trim() === '') inDeps = false;
    else if (inDeps) inputs.push(line.replace(/\\$/, '').trim());
  }
  return inputs
    .filter((p) => p !== '' && !p.startsWith('$(wildcard'))
    // kbuild runs from the tree's top and names its targets from there; tools/ builds (objtool) run make in their
    // own directory and name their targets by absolute path.
    .map((p) => path.relative(sourceDir, path.resolve(first.startsWith('cmd_/') ? cmdDir : sourceDir, p)))
    .filter((rel) => !rel.startsWith('..'));
}

/** Every tree file a host program already built in this tree is compiled from. */
export async function hostToolSources(sourceDir: string): Promise<Set<string>> {
  const sources = new Set<string>();
  for await (const file of cmdFiles(sourceDir)) {
    const text = await fs.readFile(file, 'utf8');
    for (const input of hostCompileInputs(text, path.dirname(file), sourceDir)) sources.add(input);
  }
  return sources;
}

const HOSTPROGS_LINE = /^\s*(?:hostprogs|always)(?:-[\w$()]+)?\s*[:+]?=(.*)$/;
const OBJS_LINE = /^\s*([\w-]+)-objs\s*[:+]?=(.*)$/;
const words = (text: string) => text.trim().split(/\s+/);

/**
 * Whether the Makefile (or Kbuild) of `file`'s directory declares a host program built from it: `hostprogs += x`
 * for x.c, or `hostprogs += x` with `x-objs := … file.o …`.
 */
async function declaredHostProgram(sourceDir: string, file: string): Promise<boolean> {
  const object = `${path.basename(file, '.c')}.o`;
  for (const name of ['Makefile', 'Kbuild']) {
    const lines = (await fs.readFile(path.join(sourceDir, path.dirname(file), name), 'utf8').catch(() => '')).split('\n');
    const programs = new Set(lines.flatMap((line) => words(HOSTPROGS_LINE.exec(line)?.[1] ?? '')));
    if (programs.has(object.slice(0, -2))) return true;
    const partOf = lines.map((line) => OBJS_LINE.exec(line)).filter((m): m is RegExpExecArray => m !== null);
    if (partOf.some(([, program, objects]) => programs.has(program) && words(objects).includes(object))) return true;
  }
  return false;
}

/** Refuses a patch that changes a host program's source (UnsafePatch, reason `host-tool`), before it is applied. */
export async function assertNoHostToolChange(
  sourceDir: string,
  patch: ParsedPatch,
  compiledSources: ReadonlyMap<string, unknown>,
): Promise<void> {
  const built = await hostToolSources(sourceDir);
  for (const file of patch.files) {
    if (file.role === 'other') continue;
    const isHostSource =
      built.has(file.path) || (file.role === 'c' && !compiledSources.has(file.path) && (await declaredHostProgram(sourceDir, file.path)));
    if (isHostSource) {
      throw new SplicedError(
        'UnsafePatch',
        `the patch changes ${file.path}, a source of a program the kernel build runs on this machine (fixdep, modpost, objtool, …); ` +
          'building it would run the patched program before anything is checked, and it is no kernel code a livepatch could replace',
        { reason: 'host-tool', path: file.path },
      );
    }
  }
}
