// One file's change as a unified diff with a/ b/ prefixes (what `spliced build` and `patch -p1` take), made by
// diff(1) from the two versions written to a scratch directory.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { run, tail } from '../../build/process';
import { SplicedError } from '../../errors';

const DEV_NULL = '/dev/null';

/** The diff of `file` from `before` to `after`; an absent side is an added or removed file (/dev/null). */
export async function unifiedDiff(file: string, before: Buffer | undefined, after: Buffer | undefined, scratch: string): Promise<string> {
  const write = async (side: string, content: Buffer | undefined): Promise<string> => {
    if (content === undefined) return DEV_NULL;
    const target = path.join(scratch, side, file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, content);
    return target;
  };
  const oldFile = await write('a', before);
  const newFile = await write('b', after);
  const labels = ['--label', before ? `a/${file}` : DEV_NULL, '--label', after ? `b/${file}` : DEV_NULL];
  const res = await run('diff', ['-u', ...labels, oldFile, newFile]);
  // diff exits 1 when the files differ, which is the point; 2 is trouble.
  if (res.code > 1) throw new SplicedError('Internal', `diff of ${file} failed: ${tail(res.stderr)}`);
  return res.stdout;
}
