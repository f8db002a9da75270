import { test } from 'node:test';
import assert from 'node:assert/strict';
import { differsOnlyInLineNumbers, lineMapOf } from '../../../src/build/differ/lines';

const DIFF = ['--- a/x.c', '+++ b/x.c', '@@ -10,3 +10,5 @@', ' keep', '+added 1', '+added 2', ' keep', '-gone', '+new', '@@ -40,2 +42,1 @@', ' keep', '-removed'].join('\n');

test('unchanged lines map through the hunks; changed lines map nowhere', () => {
  const map = lineMapOf(DIFF);
  assert.equal(map(5), 5, 'before the first hunk');
  assert.equal(map(10), 10);
  assert.equal(map(11), 13, 'context after two added lines');
  assert.equal(map(12), undefined, 'a replaced line');
  assert.equal(map(20), 22, 'between hunks: +2');
  assert.equal(map(40), 42);
  assert.equal(map(41), undefined, 'a removed line');
  assert.equal(map(50), 51, 'after both hunks: +2 -1');
});

function code(line: number, constant: number): Buffer {
  const bytes = Buffer.from([0xba, 0, 0, 0, 0, 0xbe, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0]);
  bytes.writeUInt32LE(line, 1);
  bytes.writeUInt32LE(constant, 6);
  return bytes;
}

test('only moved line numbers count as noise', () => {
  const map = lineMapOf(DIFF);
  assert.equal(differsOnlyInLineNumbers(code(20, 7), code(22, 7), map), true);
  assert.equal(differsOnlyInLineNumbers(code(20, 7), code(21, 7), map), false, 'line 20 went to 22, not 21');
  assert.equal(differsOnlyInLineNumbers(code(20, 7), code(22, 8), map), false, 'another field changed too');
  assert.equal(differsOnlyInLineNumbers(code(5, 7), code(5, 7), map), false, 'identical is not a line shift');
});
