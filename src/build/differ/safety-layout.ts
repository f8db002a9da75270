// Struct layouts as the compiled code sees them: pahole prints every struct and union of an object's DWARF with
// member offsets and sizes. A struct whose printed layout differs between pre and post means a header (or file-local)
// change reshaped data that already exists in memory with the old layout: refused as 'struct-layout'.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SplicedError } from '../../errors';
import { Problem } from './safety';

const run = promisify(execFile);

/** Top-level struct/union blocks of pahole's output, by name. */
export function parseLayouts(text: string): Map<string, string> {
  const layouts = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = /^(struct|union) (\S+) \{$/.exec(lines[i]);
    if (!head) continue;
    const start = i;
    while (i < lines.length && !lines[i].startsWith('}')) i++;
    layouts.set(`${head[1]} ${head[2]}`, lines.slice(start, i + 1).join('\n'));
  }
  return layouts;
}

async function layoutsOf(object: Buffer, dir: string, name: string): Promise<Map<string, string>> {
  const path = join(dir, name);
  await writeFile(path, object);
  try {
    const { stdout } = await run('pahole', [path], { maxBuffer: 256 * 1024 * 1024 });
    return parseLayouts(stdout);
  } catch (err) {
    throw new SplicedError('BuildFailed', `pahole could not read the object's debug info: ${(err as Error).message}`);
  }
}

export async function structLayoutProblems(pre: Buffer, post: Buffer): Promise<Problem[]> {
  const dir = await mkdtemp(join(tmpdir(), 'spliced-layout-'));
  try {
    const before = await layoutsOf(pre, dir, 'pre.o');
    const after = await layoutsOf(post, dir, 'post.o');
    const problems: Problem[] = [];
    for (const [name, layout] of before) {
      const changed = after.get(name);
      if (changed !== undefined && changed !== layout) {
        problems.push({ reason: 'struct-layout', symbol: name, detail: `the layout of ${name} changes` });
      }
    }
    return problems;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
