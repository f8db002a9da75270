// Screenshots kept as test evidence (docs/testing.md, "The desktop notifier"), and how bright they are, with
// ImageMagick: a black screen (0) shows nothing.

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { testCacheRoot } from '../guest/harness/image';

const run = promisify(execFile);

/** $SPLICED_TEST_CACHE/evidence/ (made if missing): screenshots outlive the run, overwritten by the next. */
export function evidenceDir(): string {
  const dir = path.join(testCacheRoot(), 'evidence');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The mean brightness of an image, 0 (black) to 1. */
export async function meanBrightness(file: string): Promise<number> {
  const { stdout } = await run('convert', [file, '-format', '%[fx:mean]', 'info:']);
  return Number(stdout.trim());
}

/** Writes a screen dump (e.g. Xvfb's -fbdir framebuffer, an XWD file) as PNG. */
export async function xwdToPng(xwd: string, png: string): Promise<void> {
  await run('convert', [`xwd:${xwd}`, png]);
}
