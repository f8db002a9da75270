// The layout check (differ/safety-layout.ts) on BTF: Debian's own vmlinux and ext4.ko BTF (from the image package of
// the fixture kernel, cached with its tree), and small gcc-12 units with debug info that pahole encodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Btf, BtfFormatError, parseBtf, typeName } from '../../../src/elf/btf';
import { btfSection } from '../../../src/build/kernel-types';
import { layoutsOf, structLayoutProblems } from '../../../src/build/differ/safety-layout';
import { targetImage, targetModuleFiles } from '../../../src/build/tree/target-image';
import { fixtureTree } from '../build/kernel-tree';
import { compile } from './gcc';

let debian: Promise<{ vmlinux: Btf; ext4: Btf }> | undefined;
function debianBtf(): Promise<{ vmlinux: Btf; ext4: Btf }> {
  debian ??= (async () => {
    const tree = await fixtureTree();
    const vmlinux = parseBtf(btfSection(await readFile((await targetImage(tree)).vmlinux))!);
    const ko = (await targetModuleFiles(tree, ['ext4'])).get('ext4')!;
    return { vmlinux, ext4: parseBtf(btfSection(ko)!, vmlinux) };
  })();
  return debian;
}

const unit = (body: string) => compile(`${body}\nvoid *use(void);\n`, ['-g']);
const pair = (pre: Buffer, post: Buffer) => ({ object: 'unit.o', pre, post });

test("Debian 6.1's vmlinux BTF and ext4.ko's split BTF on it are read: structs with member offsets, enums, module types", async () => {
  const { vmlinux, ext4 } = await debianBtf();
  assert.ok(vmlinux.types.length > 90_000, `${vmlinux.types.length} types`);
  const listHead = vmlinux.types.find((t) => t.kind === 'struct' && t.name === 'list_head')!;
  assert.equal(listHead.size, 16);
  assert.deepEqual(listHead.members.map((m) => [m.name, m.bitOffset, typeName(vmlinux, m.type)]), [
    ['next', 0, 'struct list_head *'],
    ['prev', 64, 'struct list_head *'],
  ]);
  const pidType = layoutsOf(vmlinux).get('enum pid_type')![0];
  assert.equal(pidType.entries.get('PIDTYPE_PID'), '0');
  assert.equal(pidType.entries.get('PIDTYPE_MAX'), '4');
  // ext4's own types continue vmlinux's ids; its members name vmlinux types.
  const sbInfo = layoutsOf(ext4, vmlinux.types.length).get('struct ext4_sb_info')![0];
  assert.match(sbInfo.entries.get('s_es')!, /^@\d+ struct ext4_super_block \*$/);
});

test('a struct member added or moved is refused naming the type and the member; comments, macros, prototypes and new types are not', async () => {
  const pre = unit('struct conf { int a; long b; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  const added = unit('struct conf { int a; int added; long b; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  const problems = await structLayoutProblems(pair(pre, added));
  assert.deepEqual(problems.map((p) => [p.reason, p.symbol]), [['struct-layout', 'struct conf']]);
  assert.equal(problems[0].detail, 'member added is added to struct conf');
  // A member inserted before others moves them: the inserted one is named, not the first that moved.
  const inserted = unit('struct conf { int a; long inserted; long b; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  assert.deepEqual((await structLayoutProblems(pair(pre, inserted))).map((p) => p.detail), ['member inserted is added to struct conf']);

  const harmless = unit(
    '/* a comment */\n#define CONF_MAX 9\nstruct conf { int a; long b; };\nstruct other { char c; };\nint conf_helper(struct conf *c);\n' +
      'struct conf conf_v; struct other other_v;\nvoid *use(void) { return &conf_v; }',
  );
  assert.deepEqual(await structLayoutProblems(pair(pre, harmless)), []);
});

test('a member renamed in place is no layout change; renamed and retyped, or two members swapped with their types, is', async () => {
  const pre = unit('struct conf { int a; long b; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  const renamed = unit('struct conf { int a; long limit; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  assert.deepEqual(await structLayoutProblems(pair(pre, renamed)), []);
  const retyped = unit('struct conf { int a; unsigned int limit; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  assert.deepEqual((await structLayoutProblems(pair(pre, retyped))).map((p) => p.reason), ['struct-layout']);
  // Same members, each at the other's place: every access of either moves.
  const swapped = unit('struct conf { int b; long a; };\nstruct conf conf_v;\nvoid *use(void) { return &conf_v; }');
  assert.deepEqual((await structLayoutProblems(pair(pre, swapped))).map((p) => p.reason), ['struct-layout']);
});

test('an enumerator that changes value is refused naming it; an enumerator added at the end is not', async () => {
  const pre = unit('enum mode { MODE_A, MODE_B, MODE_MAX };\nenum mode mode_v;\nvoid *use(void) { return &mode_v; }');
  const inserted = unit('enum mode { MODE_A, MODE_NEW, MODE_B, MODE_MAX };\nenum mode mode_v;\nvoid *use(void) { return &mode_v; }');
  const problems = await structLayoutProblems(pair(pre, inserted));
  assert.deepEqual(problems.map((p) => [p.reason, p.symbol]), [['enum-value', 'enum mode']]);
  assert.match(problems[0].detail, /MODE_B of enum mode changes value \(1 → 2\)/);
  const appended = unit('enum mode { MODE_A, MODE_B, MODE_MAX, MODE_LATE = 7 };\nenum mode mode_v;\nvoid *use(void) { return &mode_v; }');
  assert.deepEqual(await structLayoutProblems(pair(pre, appended)), []);
});

test("the target kernel's BTF is the reference where it has the type", async () => {
  const { vmlinux } = await debianBtf();
  const kernelLike = 'struct list_head { struct list_head *next, *prev; };\nstruct list_head head_v;\nvoid *use(void) { return &head_v; }';
  const other = 'struct list_head { struct list_head *next, *prev; long extra; };\nstruct list_head head_v;\nvoid *use(void) { return &head_v; }';
  // The patch reshapes list_head: refused against the kernel's definition, naming the member.
  const grown = await structLayoutProblems(pair(unit(kernelLike), unit(other)), vmlinux);
  assert.equal(grown.length, 1);
  assert.match(grown[0].detail, /member extra is added to struct list_head \(against the target kernel's BTF\)/);
  // Pre and post differ, but post is what the kernel runs with (a pre source older than the kernel): not refused.
  assert.deepEqual(await structLayoutProblems(pair(unit(other), unit(kernelLike)), vmlinux), []);
});

test("a corrupt BTF gives BtfFormatError or types, never another exception (ext4.ko's, cut or with bytes flipped)", async () => {
  const { vmlinux } = await debianBtf();
  const raw = btfSection((await targetModuleFiles(await fixtureTree(), ['ext4'])).get('ext4')!)!;
  // The type section said to end 8 bytes early: the last type's trailer is cut, not read from the strings after it.
  const cut = Buffer.from(raw);
  cut.writeUInt32LE(raw.readUInt32LE(12) - 8, 12);
  assert.throws(() => parseBtf(cut, vmlinux), (err) => err instanceof BtfFormatError && /runs past the type section/.test(err.message));

  let seed = 1;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const outcomes = { parsed: 0, refused: 0 };
  for (let i = 0; i < 40; i++) {
    const bad = Buffer.from(raw);
    // Header fields (lengths, offsets) half the time, else anywhere in the type section.
    for (let flips = 1 + random(3); flips > 0; flips--) bad[i % 2 ? 4 + random(20) : 24 + random(bad.readUInt32LE(12))] ^= 1 << random(8);
    try {
      layoutsOf(parseBtf(bad, vmlinux), vmlinux.types.length);
      outcomes.parsed++;
    } catch (err) {
      assert.ok(err instanceof BtfFormatError, `mutation ${i}: ${(err as Error).stack}`);
      outcomes.refused++;
    }
  }
  assert.ok(outcomes.refused > 5 && outcomes.parsed > 5, JSON.stringify(outcomes));
});
