// System.map (from the -dbg package) stands in for /proc/kallsyms when building for a kernel that is not running.
// sympos is a position among same-named symbols in kallsyms order, so the kernel's own kallsyms table, decoded from
// the extracted vmlinux (kernel/kallsyms.c of 6.1: base-relative offsets, absolute per-CPU, token-compressed names),
// must give every one of its names at the same addresses in the same order as System.map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseKallsyms } from '../../../src/build/module/symbols';
import { vmlinuxFileSource } from '../../../src/build/runpre/sources';
import { targetImage } from '../../../src/build/tree/target-image';
import { fixtureTree } from './kernel-tree';

/** The kernel's kallsyms table, in its order, as /proc/kallsyms lists vmlinux (name → addresses). */
function decodeKallsyms(vmlinux: Buffer, systemMap: string): Map<string, bigint[]> {
  const at = (name: string) => parseKallsyms(systemMap).get('vmlinux')!.get(name)![0].address;
  const image = vmlinuxFileSource(vmlinux, systemMap);
  const read = (name: string, length: number, from = 0) => image.read(at(name) + BigInt(from), length)!;
  const count = read('kallsyms_num_syms', 4).readUInt32LE(0);
  const base = read('kallsyms_relative_base', 8).readBigUInt64LE(0);
  const offsets = read('kallsyms_offsets', 4 * count);
  const tokenIndex = read('kallsyms_token_index', 512);
  const tokens = read('kallsyms_token_table', Number(at('kallsyms_token_index') - at('kallsyms_token_table')));
  const names = read('kallsyms_names', Number(at('kallsyms_markers') - at('kallsyms_names')));
  const token = (i: number) => tokens.toString('latin1', tokenIndex.readUInt16LE(2 * i), tokens.indexOf(0, tokenIndex.readUInt16LE(2 * i)));
  const table = new Map<string, bigint[]>();
  let off = 0;
  for (let i = 0; i < count; i++) {
    let length = names[off++];
    if (length & 0x80) length = (length & 0x7f) | (names[off++] << 7); // a "big" symbol: a second length byte
    let text = '';
    for (let j = 0; j < length; j++) text += token(names[off + j]);
    off += length;
    const name = text.slice(1); // the first character is the type
    const offset = offsets.readInt32LE(4 * i);
    const address = offset >= 0 ? BigInt(offset) : base - 1n - BigInt(offset); // CONFIG_KALLSYMS_ABSOLUTE_PERCPU
    table.set(name, [...(table.get(name) ?? []), address]);
  }
  return table;
}

test("System.map gives every kallsyms name at the kernel's own addresses, in kallsyms order (so the same sympos)", async () => {
  const { vmlinux, systemMap } = await targetImage(await fixtureTree());
  const map = readFileSync(systemMap, 'utf8');
  const kallsyms = decodeKallsyms(readFileSync(vmlinux), map);
  const fromMap = parseKallsyms(map).get('vmlinux')!;
  assert.ok(kallsyms.size > 50_000, `decoded ${kallsyms.size} names`);
  const duplicated = [...kallsyms].filter(([, addresses]) => addresses.length > 1);
  assert.ok(duplicated.length > 100, `${duplicated.length} names have several symbols`);
  const differing = [...kallsyms].filter(([name, addresses]) => {
    const mapped = (fromMap.get(name) ?? []).map((e) => e.address);
    return mapped.join() !== addresses.join();
  });
  assert.deepEqual(differing.slice(0, 5), [], `${differing.length} names differ`);
});
