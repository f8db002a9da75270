// The real feed step on this host: apt's view, both linux-source debs (fetched once into the feed cache, then
// reused), the delta restricted to 6.1.0-55's build, and the changelog between. Needs apt (Debian's archive) and
// the prepared tree of 6.1.0-55-amd64 (prepared on first use like the builder's tests, ≈ 1 min cold); warm ≈ 25 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaPatch } from '../../../src/sources/feed/delta';
import { planFeed } from '../../../src/sources/feed/plan';

test('running 6.1.0-55 (6.1.192-1), the feed to 6.1.192-2 is exactly the ext4 mballoc fix', async () => {
  const plan = await planFeed({ running: { release: '6.1.0-55-amd64', sourceVersion: '6.1.192-1' }, targetVersion: '6.1.192-2' });
  const target = plan.target!;
  assert.equal(target.image?.package, 'linux-image-6.1.0-56-amd64');
  assert.deepEqual(target.changelog.map((e) => e.version), ['6.1.192-2']);
  assert.match(target.changelog[0].lines[0].text, /^ext4: fix NULL folio dereference in mballoc/);
  assert.deepEqual(target.delta.files.map((f) => [f.path, f.kind, f.change]), [['fs/ext4/mballoc.c', 'compiled', 'modified']]);
  assert.equal(target.delta.summary.changed, 1);
  assert.match(deltaPatch(target.delta), /^--- a\/fs\/ext4\/mballoc\.c\n\+\+\+ b\/fs\/ext4\/mballoc\.c\n@@ /);
  assert.ok(plan.view.newerSourceVersions.includes('6.1.192-3'));
});
