// Shared by the builder's tests: the prepared tree of the fixture kernel (prepared on first use, ≈ 25 s, then
// reused from the cache), the fixture patches, and their pre/post object pairs compiled once and kept in
// $TMPDIR/spliced-test-pairs (keyed by tree and patch hash: the pristine tree and gcc are deterministic).
// Needs apt access to linux-source-6.1 and the headers deb.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compileTouched, CompiledUnit } from '../../../src/build/compile/compile';
import { parsePatch, ParsedPatch } from '../../../src/build/patch/patchfile';
import { prepareTree, resolveDebianBuild, Tree } from '../../../src/build/tree/tree';

export const FIXTURE_RELEASE = '6.1.0-56-amd64';
export const PATCHES = resolve(__dirname, '../../../../test/fixtures/patches');

const scratch: string[] = [];

/** A temporary directory, removed when the test process exits (pre/post objects take megabytes). */
export function scratchDir(prefix: string): string {
  if (scratch.length === 0) process.on('exit', () => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = mkdtempSync(join(tmpdir(), `spliced-${prefix}-`));
  scratch.push(dir);
  return dir;
}

let tree: Promise<Tree> | undefined;

export function fixtureTree(): Promise<Tree> {
  tree ??= resolveDebianBuild({ release: FIXTURE_RELEASE }).then(prepareTree);
  return tree;
}

export function fixturePatch(name: string): ParsedPatch {
  return parsePatch(readFileSync(resolve(PATCHES, name), 'utf8'));
}

/** The object pairs of a fixture patch (e.g. "09-ext4-sysfs.patch"), compiled on first use. */
export async function fixturePairs(name: string): Promise<CompiledUnit[]> {
  const t = await fixtureTree();
  const patch = fixturePatch(name);
  const dir = join(tmpdir(), 'spliced-test-pairs', `${t.release}-${t.debianVersion}`, patch.sha256.slice(0, 24));
  const index = join(dir, 'pairs.json');
  if (existsSync(index)) return JSON.parse(await readFile(index, 'utf8')) as CompiledUnit[];
  const building = `${dir}.${process.pid}.tmp`;
  await rm(building, { recursive: true, force: true });
  const { pairs } = await compileTouched(t, patch, building);
  const moved = pairs.map((p) => ({ ...p, pre: p.pre.replace(building, dir), post: p.post.replace(building, dir) }));
  await writeFile(join(building, 'pairs.json'), JSON.stringify(moved, null, 2));
  await mkdir(join(dir, '..'), { recursive: true });
  // Renamed into place whole, so a crash never leaves a half set; a concurrent test may have won the race.
  await rename(building, dir).catch(async () => rm(building, { recursive: true, force: true }));
  return JSON.parse(await readFile(index, 'utf8')) as CompiledUnit[];
}
