// Growing an instruction inside a function (relayout.ts): the function's own jumps follow the code that moved, a
// short jump that no longer reaches becomes a near one, and offsets map to where their bytes went.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayout } from '../../../src/build/module/relayout';
import { isSplicedError } from '../../../src/errors';

const NOP2 = [0x66, 0x90];
const grown = (offset: number) => new Map([[offset, 5]]);

test('a jump over a grown site lands on the same instruction, and offsets after the site move by the growth', () => {
  const code = Buffer.from([0x74, 0x05, ...NOP2, 0x90, 0x90, 0x90, 0xc3]); // je ret; site; 3 nops; ret
  const { code: out, map } = relayout(code, new Set(), grown(2), 'test');
  assert.equal(out.length, code.length + 3);
  assert.equal(out.readInt8(1), 8, 'je now skips the 5-byte site and the nops');
  assert.equal(out[10], 0xc3);
  assert.deepEqual([0n, 2n, 4n, 7n, 8n].map(map), [0n, 2n, 7n, 10n, 11n]);
});

test('a backward jump across a grown site reaches back 3 bytes further', () => {
  const code = Buffer.from([0x90, ...NOP2, 0x90, 0xeb, 0xfa]); // nop; site; nop; jmp to +0 (6 - 6)
  const { code: out } = relayout(code, new Set(), grown(1), 'test');
  assert.equal(out.readInt8(out.length - 1), -9);
});

test('a short jump that no longer reaches becomes a near jmp or jcc, and moves the code after it', () => {
  for (const [short, near] of [[[0xeb], [0xe9]], [[0x75], [0x0f, 0x85]]]) {
    const code = Buffer.from([...short, 0x7f, ...NOP2, ...Array(125).fill(0x90), 0xc3]); // the jump reaches the ret exactly
    const { code: out, map } = relayout(code, new Set(), grown(2), 'test');
    assert.deepEqual([...out.subarray(0, near.length)], near);
    const end = near.length + 4;
    assert.equal(out.readInt32LE(near.length), out.length - 1 - end, 'still lands on the ret');
    assert.equal(out[out.length - 1], 0xc3);
    assert.equal(map(2n), BigInt(end), 'the site moved behind the promoted jump');
  }
});

test('a branch whose displacement is a relocation is left to its relocation', () => {
  const code = Buffer.from([0xe8, 0, 0, 0, 0, ...NOP2, 0xc3]); // call <relocation>; site; ret
  const { code: out, map } = relayout(code, new Set([1]), grown(5), 'test');
  assert.deepEqual([...out.subarray(0, 5)], [0xe8, 0, 0, 0, 0]);
  assert.equal(map(1n), 1n);
  assert.equal(map(7n), 10n);
});

test('code that does not decode, or a site off an instruction boundary, is refused by name', () => {
  for (const [code, site] of [[Buffer.from([0x06, ...NOP2]), 1], [Buffer.from([0x90, 0x48, 0x89, 0xc3, 0xc3]), 2]] as const) {
    assert.throws(() => relayout(code, new Set(), grown(site), 'test'), (err: unknown) => isSplicedError(err, 'UnsafePatch') && err.details?.reason === 'special-section');
  }
});
