// Arguments a caller controls are bounded (docs/dbus.md): history pages, transition timeouts, id strings. Anything
// outside the bounds is InvalidArgument before the engine or polkit is asked anything.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { patchRecord } from './fake-engine';
import { managerError, startDaemon, type Daemon } from './harness';

const INVALID = 'org.spliced.Spliced1.Error.InvalidArgument';

describe('Manager: bounded arguments', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    d.engine.patches = [patchRecord('aaaaaaaaaaaa', { stackPosition: 1 })];
  });
  after(() => d.stop());

  it('GetHistory pages hold at most 1000 events', async () => {
    const r = await managerError(d.bus.address, 'GetHistory', ["''", 'uint32 1001']);
    assert.deepEqual(r, { name: INVALID, message: 'limit must be at most 1000 events per page, got 1001' });
  });

  it('transition_timeout_ms lies between 1 s and 10 min, for Apply and Revert', async () => {
    for (const [member, first] of [['Apply', '/tmp/a.ko'], ['Revert', 'aaaaaaaaaaaa']]) {
      for (const value of [0, 999, 600_001, 4_294_967_295]) {
        const r = await managerError(d.bus.address, member, [first, `{'transition_timeout_ms': <uint32 ${value}>}`]);
        assert.deepEqual(r, {
          name: INVALID,
          message: `option "transition_timeout_ms" must be between 1000 and 600000, got ${value}`,
        });
      }
    }
    assert.deepEqual(d.engine.calls, []);
    assert.deepEqual(d.authority.requests, []);
  });

  it('source_version is a Debian version of at most 64 characters, a string', async () => {
    const cases: [string, string][] = [
      ["'6.1.192-2; rm -rf /'", 'option "source_version" must be a Debian package version (like 6.1.192-2), got "6.1.192-2; rm -rf /"'],
      ["'../../etc'", 'option "source_version" must be a Debian package version (like 6.1.192-2), got "../../etc"'],
      ["''", 'option "source_version" must be a Debian package version (like 6.1.192-2), got ""'],
      // linux has no epoch: a tree named 1:6.1.192-2 is refused by the builder, so the door refuses it too.
      ["'1:6.1.192-2'", 'option "source_version" must be a Debian package version (like 6.1.192-2), got "1:6.1.192-2"'],
      [`'6.${'1'.repeat(70)}'`, `option "source_version" must be a Debian package version (like 6.1.192-2), got "6.${'1'.repeat(62)}"`],
      ['uint32 6', 'option "source_version" must have D-Bus type "s", not "u"'],
    ];
    for (const [value, message] of cases) {
      const r = await managerError(d.bus.address, 'Apply', ['/tmp/a.patch', `{'source_version': <${value}>}`]);
      assert.deepEqual(r, { name: INVALID, message });
    }
    // Not an option of Revert.
    const r = await managerError(d.bus.address, 'Revert', ['aaaaaaaaaaaa', "{'source_version': <'6.1.192-2'>}"]);
    assert.equal(r.name, INVALID);
    assert.deepEqual(d.engine.calls, []);
    assert.deepEqual(d.authority.requests, []);
  });

  it('ids longer than 256 characters are refused, not looked up', async () => {
    const long = 'x'.repeat(257);
    for (const [member, args] of [
      ['GetPatch', [long]],
      ['Revert', [long, '{}']],
      ['GetHistory', [long, 'uint32 0']],
    ] as const) {
      const r = await managerError(d.bus.address, member, [...args]);
      assert.deepEqual(r, { name: INVALID, message: 'a patch id or name is at most 256 characters, got 257' }, member);
    }
  });
});
