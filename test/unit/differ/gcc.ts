// Small C units compiled with gcc-12 and kernel-like flags (per-function sections, __fentry__ calls): objects for
// the differ and the extractor without a kernel tree.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FLAGS = ['-O2', '-w', '-ffunction-sections', '-fdata-sections', '-mcmodel=kernel', '-fno-pic', '-pg', '-mfentry', '-mrecord-mcount', '-c'];

/** `extra`: more gcc flags, e.g. `-g` for debug info (the layout check reads it). */
export function compile(source: string, extra: readonly string[] = []): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'differ-synthetic-'));
  writeFileSync(join(dir, 'unit.c'), source);
  try {
    execFileSync('gcc-12', [...FLAGS, ...extra, 'unit.c', '-o', 'unit.o'], { cwd: dir });
    return readFileSync(join(dir, 'unit.o'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
