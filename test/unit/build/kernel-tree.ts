// Shared by the tree and compile tests: the prepared tree of the fixture kernel (prepared on first use, ≈ 25 s,
// then reused from the cache) and the fixture patches. Needs apt access to linux-source-6.1 and the headers deb.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parsePatch, ParsedPatch } from '../../../src/build/patchfile';
import { prepareTree, resolveKernelBuild, Tree } from '../../../src/build/tree';

export const FIXTURE_RELEASE = '6.1.0-56-amd64';
export const PATCHES = resolve(__dirname, '../../../../test/fixtures/patches');

let tree: Promise<Tree> | undefined;

export function fixtureTree(): Promise<Tree> {
  tree ??= resolveKernelBuild({ release: FIXTURE_RELEASE }).then(prepareTree);
  return tree;
}

export function fixturePatch(name: string): ParsedPatch {
  return parsePatch(readFileSync(resolve(PATCHES, name), 'utf8'));
}
