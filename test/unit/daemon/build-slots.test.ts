// At most max_concurrent_builds build workers run at once: further builds wait for a slot (their job says so), in
// order, and one stopped while it waits never starts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { limitConcurrentBuilds } from '../../../src/daemon/build-slots';
import type { BuildStep, SpliceBuilder } from '../../../src/engine';
import { isSplicedError } from '../../../src/errors';

/** A builder whose builds end when the test says so. */
function heldBuilder() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const builder: SpliceBuilder = {
    build: ({ patchText }) =>
      new Promise<void>((resolve) => {
        started.push(patchText);
        finish.set(patchText, resolve);
      }),
  };
  return { builder, started, finish: (name: string) => finish.get(name)!() };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('build slots', () => {
  it('runs one build at a time by default and starts the next when one ends', async () => {
    const held = heldBuilder();
    const limited = limitConcurrentBuilds(held.builder, 1);
    const steps: BuildStep[] = [];
    const a = limited.build({ patchText: 'a' }, '/x/a.ko', () => undefined, new AbortController().signal);
    const b = limited.build({ patchText: 'b' }, '/x/b.ko', (s: BuildStep) => steps.push(s), new AbortController().signal);
    await tick();
    assert.deepEqual(held.started, ['a']);
    assert.deepEqual(steps, [{ progress: 0, message: 'waiting for another build to finish (at most 1 at a time)' }]);
    held.finish('a');
    await a;
    await tick();
    assert.deepEqual(held.started, ['a', 'b']);
    held.finish('b');
    await b;
  });

  it('a build stopped while it waits never starts and frees nothing it did not take', async () => {
    const held = heldBuilder();
    const limited = limitConcurrentBuilds(held.builder, 1);
    const a = limited.build({ patchText: 'a' }, '/x/a.ko', () => undefined, new AbortController().signal);
    const stop = new AbortController();
    const b = limited.build({ patchText: 'b' }, '/x/b.ko', () => undefined, stop.signal);
    const c = limited.build({ patchText: 'c' }, '/x/c.ko', () => undefined, new AbortController().signal);
    stop.abort();
    await assert.rejects(b, (err) => isSplicedError(err, 'BuildFailed') && /the build was stopped/.test(err.message));
    held.finish('a');
    await a;
    await tick();
    assert.deepEqual(held.started, ['a', 'c']);
    held.finish('c');
    await c;
  });
});
