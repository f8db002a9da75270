// The x86-64 length decoder on encodings whose lengths objdump states (each row: bytes, as objdump -d shows them).
// Whole real kernel objects are decoded in test/unit/differ/runpre.test.ts (needs the prepared tree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { branchTarget, decodeInstruction } from '../../../src/elf/x86-decode';

const ROWS: [string, string][] = [
  ['55', 'push %rbp'],
  ['c3', 'ret'],
  ['cc', 'int3'],
  ['48 89 e5', 'mov %rsp,%rbp'],
  ['0f 1f 44 00 00', 'nopl 0x0(%rax,%rax,1)'],
  ['66 0f 1f 84 00 00 00 00 00', 'nopw 0x0(%rax,%rax,1)'],
  ['66 90', 'xchg %ax,%ax'],
  ['65 48 03 3d 00 00 00 00', 'add %gs:0x0(%rip),%rdi'],
  ['80 3d 00 00 00 00 00', 'cmpb $0x0,0x0(%rip)'],
  ['66 81 7f 10 34 12', 'cmpw $0x1234,0x10(%rdi)'],
  ['81 7c 24 08 78 56 34 12', 'cmpl $0x12345678,0x8(%rsp)'],
  ['48 c7 c0 f4 ff ff ff', 'mov $0xfffffffffffffff4,%rax'],
  ['48 b8 88 77 66 55 44 33 22 11', 'movabs $0x1122334455667788,%rax'],
  ['b8 01 00 00 00', 'mov $0x1,%eax'],
  ['66 b8 01 00', 'mov $0x1,%ax'],
  ['f6 47 08 01', 'testb $0x1,0x8(%rdi)'],
  ['f7 d8', 'neg %eax'],
  ['f7 c7 00 00 01 00', 'test $0x10000,%edi'],
  ['48 8b 04 c5 00 00 00 00', 'mov 0x0(,%rax,8),%rax'],
  ['8b 44 8d 00', 'mov 0x0(%rbp,%rcx,4),%eax'],
  ['f0 48 0f b1 17', 'lock cmpxchg %rdx,(%rdi)'],
  ['f3 48 ab', 'rep stos %rax,%es:(%rdi)'],
  ['0f b6 c0', 'movzbl %al,%eax'],
  ['0f ba e8 03', 'bts $0x3,%eax'],
  ['0f a2', 'cpuid'],
  ['0f 01 d0', 'xgetbv'],
  ['0f ae e8', 'lfence'],
  ['66 0f 3a 0f c1 08', 'palignr $0x8,%xmm1,%xmm0'],
  ['66 0f 38 00 c1', 'pshufb %xmm1,%xmm0'],
  ['c5 f9 6f 07', 'vmovdqa (%rdi),%xmm0'],
  ['c4 e3 7d 39 c1 01', 'vextracti128 $0x1,%ymm0,%xmm1'],
  ['c5 f8 77', 'vzeroupper'],
  ['62 f1 7d 48 6f 07', 'vmovdqa32 (%rdi),%zmm0'],
  ['c8 10 00 00', 'enter $0x10,$0x0'],
  ['48 a1 88 77 66 55 44 33 22 11', 'movabs 0x1122334455667788,%rax'],
  ['0f 0b', 'ud2'],
  ['0f 0b 78 65 6e', "Xen's emulate prefix (ud2; .ascii \"xen\")"],
];

test('lengths of kernel instructions as objdump decodes them', () => {
  for (const [hex, what] of ROWS) {
    const bytes = Buffer.from(hex.replace(/ /g, '') + 'cccccccc', 'hex');
    assert.equal(decodeInstruction(bytes, 0)?.length, hex.split(' ').length, what);
  }
});

test('relative branches: short and near jmp/jcc, call, with their targets', () => {
  const code = Buffer.from('eb10' + '7405' + '0f8510000000' + 'e9fbffffff' + 'e800000000', 'hex');
  const at = [0, 2, 4, 10, 15];
  const expected = [
    { kind: 'jmp', condition: 0, size: 1, target: 0x12 },
    { kind: 'jcc', condition: 4, size: 1, target: 9 },
    { kind: 'jcc', condition: 5, size: 4, target: 0x1a },
    { kind: 'jmp', condition: 0, size: 4, target: 10 },
    { kind: 'call', condition: 0, size: 4, target: 20 },
  ];
  at.forEach((offset, i) => {
    const insn = decodeInstruction(code, offset)!;
    const { kind, condition, size } = insn.branch!;
    assert.deepEqual({ kind, condition, size, target: branchTarget(code, offset, insn) }, expected[i]);
  });
});

test('bytes that are no instruction, or run out, decode to nothing', () => {
  assert.equal(decodeInstruction(Buffer.from('06', 'hex'), 0), undefined); // push %es: invalid in 64-bit mode
  assert.equal(decodeInstruction(Buffer.from('e8000000', 'hex'), 0), undefined); // call, truncated
  assert.equal(decodeInstruction(Buffer.from('6648', 'hex'), 0), undefined); // prefixes only
});
