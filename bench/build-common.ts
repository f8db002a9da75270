// Shared by the bench/build-*.ts scripts: the fixture kernel's tree, timing and medians.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parsePatch, ParsedPatch } from '../src/build/patch/patchfile';
import { prepareTree, resolveDebianBuild, Tree } from '../src/build/tree/tree';

export const RELEASE = process.env.SPLICED_BENCH_RELEASE ?? '6.1.0-56-amd64';

export async function benchTree(): Promise<Tree> {
  return prepareTree(await resolveDebianBuild({ release: RELEASE }));
}

export function fixture(name: string): ParsedPatch {
  return parsePatch(readFileSync(resolve(__dirname, '../../test/fixtures/patches', name), 'utf8'));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function timed<T>(body: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await body();
  return { ms: performance.now() - started, value };
}

/** The value after `--name` on the command line, else `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

export function numberArg(name: string, fallback: number): number {
  return Number(arg(name, String(fallback)));
}

export function runsArg(fallback: number): number {
  return numberArg('runs', fallback);
}

/** Disk blocks used below a directory, in bytes (du: what the disk really gives up, small files rounded to blocks). */
export function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' }).split('\t')[0]);
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
