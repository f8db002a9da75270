// Node 18's test runner has no --test-force-exit, which scripts/test gives the host's Node. scripts/unit-debian-node
// preloads this (NODE_OPTIONS=--require) so that a test file whose tests have ended exits there too, even when a
// handle would keep it alive (seen 2026-12-02: drop-dir.test.js, all 15 passed, held by one fs.watch handle until the
// lane's 20 min bound failed the run). Only in a test file's own process: the runner sets NODE_TEST_CONTEXT there,
// and the programs tests start (spliced, splicectl) inherit it but are not test files.
import { after } from 'node:test';

if (process.env.NODE_TEST_CONTEXT && /\.test\.js$/.test(process.argv[1] ?? '')) {
  after(() => {
    // Not at once: a file that ends by itself is not cut short; one held by a handle ends 2 s later, naming it.
    setTimeout(() => {
      const held = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout');
      process.stderr.write(`force-exit: ${process.argv[1]} ended its tests but was held by: ${held.join(', ') || 'nothing named'}\n`);
      process.exit();
    }, 2000).unref();
  });
}
