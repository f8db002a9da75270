// The build unit's handover (units/spliced-build@.service, ExecStartPre=+): run as root, as systemd runs it, on a
// stand-in for /var/cache/spliced and with uid 65534 (nobody) for spliced-build. What root marked (a top directory of root's) is
// handed over, what is not marked is not walked, and nothing is followed out of the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writingInto } from '../../../src/build/tree/root-writes';

const UNIT = resolve(__dirname, '../../../../units/spliced-build@.service');
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** The ExecStartPre script as systemd hands it to /bin/sh: continuations joined, $$ and %% unescaped. */
function handoverScript(cache: string): string {
  const unit = readFileSync(UNIT, 'utf8').replace(/\\\n/g, ' ');
  const line = /^ExecStartPre=\+-\/bin\/sh -euc '(.*)'$/m.exec(unit)?.[1];
  assert.ok(line, "no ExecStartPre=+-/bin/sh -euc '…' in the unit");
  return line.replaceAll('$$', '$').replaceAll('%%', '%').replaceAll('/var/cache/spliced', cache).replace('spliced-build:spliced-build', `${NOBODY}:${NOBODY}`);
}

const handOver = (cache: string) => execFileSync('/bin/sh', ['-euc', handoverScript(cache)]);
const ownerOf = (file: string) => statSync(file).uid;

function file(at: string, owner: number): void {
  writeFileSync(at, 'x');
  chownSync(at, owner, owner);
}

test('the build unit hands over what root marked, walks nothing else and follows no link', { skip: !asRoot && 'needs root' }, async () => {
  const cache = mkdtempSync(join(tmpdir(), 'spliced-handover-'));
  const trees = join(cache, 'trees');
  // A tree root wrote into: top directory root's, files root's.
  const marked = join(trees, 'marked');
  mkdirSync(join(marked, 'sub'), { recursive: true });
  file(join(marked, 'sub/object.o'), 0);
  // A tree of spliced-build's with a root file the mark does not cover: not walked, so left alone.
  const unmarked = join(trees, 'unmarked');
  mkdirSync(unmarked);
  chownSync(unmarked, NOBODY, NOBODY);
  file(join(unmarked, 'left.o'), 0);
  // An entry that is a link out of the cache, to a directory of root's.
  const outside = mkdtempSync(join(tmpdir(), 'spliced-outside-'));
  file(join(outside, 'passwd'), 0);
  symlinkSync(outside, join(trees, 'link'));
  const feed = join(cache, 'feed');
  mkdirSync(join(feed, 'sources/6.1.192-2'), { recursive: true });
  file(join(feed, 'sources/6.1.192-2/plan.json'), 0);

  handOver(cache);

  assert.equal(ownerOf(join(marked, 'sub/object.o')), NOBODY);
  assert.equal(ownerOf(join(marked, 'sub')), NOBODY);
  assert.equal(ownerOf(marked), NOBODY, 'the mark is taken off last');
  assert.equal(ownerOf(join(unmarked, 'left.o')), 0, 'an unmarked tree was walked');
  assert.equal(ownerOf(outside), 0);
  assert.equal(ownerOf(join(outside, 'passwd')), 0);
  // The feed cache an older spliced kept as root.
  assert.equal(ownerOf(join(feed, 'sources/6.1.192-2/plan.json')), NOBODY);
  assert.equal(ownerOf(feed), NOBODY);

  // Root writing into the handed-over tree marks it again, and the next job hands it over again.
  await writingInto(marked, async () => file(join(marked, 'again.o'), 0));
  assert.equal(ownerOf(marked), 0);
  handOver(cache);
  assert.equal(ownerOf(join(marked, 'again.o')), NOBODY);
  assert.equal(ownerOf(marked), NOBODY);
});
