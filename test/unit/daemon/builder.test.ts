import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { forkedBuilder } from '../../../src/daemon/builder';
import type { BuildStep } from '../../../src/engine';
import { isSplicedError } from '../../../src/errors';

// The build worker itself is the builder library (test/unit/build); a build that succeeds needs the running
// kernel's tree and is proven in the guest (test/guest/guest-build). Here: the process boundary.
describe('the daemon builder (a build worker process per job)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spliced-builder-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reports the worker\'s steps and passes its named error back unchanged, writing no module', async () => {
    const steps: BuildStep[] = [];
    const output = path.join(tmp, 'x.ko');
    await assert.rejects(
      forkedBuilder(tmp, null).build('this is not a patch\n', output, (s) => steps.push(s), new AbortController().signal),
      (err) => isSplicedError(err, 'InvalidArgument') && /contains no unified diff/.test(err.message),
    );
    assert.deepEqual(steps, [{ progress: 2, message: 'reading the patch' }]);
    assert.equal(fs.existsSync(output), false);
  });

  it('kills the worker when the build is aborted, and says the build was stopped', async () => {
    const controller = new AbortController();
    const building = forkedBuilder(tmp, null).build('diff --git a/x b/x\n', path.join(tmp, 'y.ko'), () => undefined, controller.signal);
    controller.abort();
    await assert.rejects(building, (err) => isSplicedError(err, 'BuildFailed') && /the build was stopped/.test(err.message));
  });
});
