// x86-64 instruction lengths, for comparing kernel code instruction by instruction (run-pre): prefixes, REX, VEX and
// EVEX, opcode maps 0f / 0f38 / 0f3a, ModRM, SIB, displacement and immediate. It tells lengths and relative branches
// apart, nothing more: operands beyond their size and position are not decoded. Sizes follow the Intel SDM's opcode
// maps (volume 2, appendix A) for 64-bit mode.

export interface Instruction {
  length: number;
  /** A no-op the assembler uses as padding: `90`, `0f 1f /0`, with operand-size and segment prefixes only. */
  nop?: boolean;
  /** Relative branch: jmp, jcc (with its condition), call, loop/jrcxz; `rel` is the displacement's position and size. */
  branch?: { kind: 'jmp' | 'jcc' | 'call' | 'loop'; condition: number; at: number; size: number };
}

const EMULATE_PREFIXES = ['xen', 'kvm'];
const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** One-byte opcodes that take a ModRM byte (64-bit mode; c4/c5/62 are VEX/EVEX escapes, handled apart). */
const MAP1_MODRM = new Set<number>([
  ...[0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38].flatMap((row) => [row, row + 1, row + 2, row + 3]),
  0x63, 0x69, 0x6b, ...range(0x80, 0x8f), 0xc0, 0xc1, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, ...range(0xd8, 0xdf), 0xf6, 0xf7, 0xfe, 0xff,
]);

/** Two-byte (0f xx) opcodes without ModRM. */
const MAP2_NO_MODRM = new Set<number>([
  0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, ...range(0x30, 0x37), 0x77, ...range(0x80, 0x8f), 0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa,
  ...range(0xc8, 0xcf),
]);

/** Two-byte opcodes with an 8-bit immediate. */
const MAP2_IMM8 = new Set<number>([0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Bytes taken by ModRM, SIB and displacement at `at` (the ModRM byte). */
function modrmLength(code: Uint8Array, at: number): number {
  const modrm = code[at];
  const mod = modrm >> 6;
  const rm = modrm & 7;
  if (mod === 3) return 1;
  let length = 1;
  if (rm === 4) {
    length++;
    if (mod === 0 && (code[at + 1] & 7) === 5) length += 4;
  } else if (mod === 0 && rm === 5) {
    length += 4; // RIP-relative
  }
  if (mod === 1) length += 1;
  if (mod === 2) length += 4;
  return length;
}

/** Immediate size of a one-byte opcode (`z` = 2 with an operand-size prefix, else 4; `v` = 8 with REX.W). */
function map1Immediate(opcode: number, reg: number, osize16: boolean, rexW: boolean): number {
  const z = osize16 ? 2 : 4;
  if (opcode < 0x40 && (opcode & 7) === 4) return 1;
  if (opcode < 0x40 && (opcode & 7) === 5) return z;
  if (opcode >= 0xb0 && opcode <= 0xb7) return 1;
  if (opcode >= 0xb8 && opcode <= 0xbf) return rexW ? 8 : z;
  if (opcode >= 0xa0 && opcode <= 0xa3) return 8; // moffs
  switch (opcode) {
    case 0x6a: case 0x6b: case 0x80: case 0x83: case 0xa8: case 0xc0: case 0xc1: case 0xc6: case 0xcd:
    case 0xe4: case 0xe5: case 0xe6: case 0xe7:
      return 1;
    case 0x68: case 0x69: case 0x81: case 0xa9: case 0xc7:
      return z;
    case 0xc2: case 0xca:
      return 2;
    case 0xc8:
      return 3;
    case 0xf6:
      return reg <= 1 ? 1 : 0;
    case 0xf7:
      return reg <= 1 ? z : 0;
    default:
      return 0;
  }
}

/** Decodes the instruction at `at`; undefined when the bytes are not an instruction this decoder knows (or run out). */
export function decodeInstruction(code: Uint8Array, at: number): Instruction | undefined {
  // Xen's and KVM's "emulate prefix" (ud2; .ascii "xen"/"kvm") before an instruction the hypervisor emulates.
  if (code[at] === 0x0f && code[at + 1] === 0x0b && EMULATE_PREFIXES.includes(Buffer.from(code.subarray(at + 2, at + 5)).toString('latin1'))) {
    return { length: 5 };
  }
  let i = at;
  let osize16 = false;
  while (i < code.length && LEGACY_PREFIXES.has(code[i])) {
    if (code[i] === 0x66) osize16 = true;
    i++;
  }
  let rexW = false;
  if (i < code.length && (code[i] & 0xf0) === 0x40) {
    rexW = (code[i] & 8) !== 0;
    i++;
  }
  if (i >= code.length) return undefined;
  const first = code[i];
  let length: number;
  // VEX (c4/c5) and EVEX (62): payload, opcode, ModRM; map 3 and a few map 1 opcodes take an imm8.
  if (first === 0xc4 || first === 0xc5 || first === 0x62) {
    const payload = first === 0xc5 ? 1 : first === 0xc4 ? 2 : 3;
    const map = first === 0xc5 ? 1 : code[i + 1] & (first === 0x62 ? 0x07 : 0x1f);
    const opcode = code[i + 1 + payload];
    i += 2 + payload;
    if (map === 1 && opcode === 0x77) return { length: i - at }; // vzeroupper / vzeroall
    if (i >= code.length || map < 1 || map > 3) return undefined;
    length = i - at + modrmLength(code, i) + (map === 3 || (map === 1 && MAP2_IMM8.has(opcode)) ? 1 : 0);
    return length + at <= code.length ? { length } : undefined;
  }
  i++;
  let immediate = 0;
  let branch: Instruction['branch'];
  if (first === 0x0f) {
    const opcode = code[i++];
    if (opcode === 0x38 || opcode === 0x3a) {
      i++; // the opcode of map 0f38 / 0f3a; both always take ModRM, 0f3a an imm8
      if (i >= code.length) return undefined;
      i += modrmLength(code, i);
      immediate = opcode === 0x3a ? 1 : 0;
    } else {
      if (opcode >= 0x80 && opcode <= 0x8f) branch = { kind: 'jcc', condition: opcode & 0xf, at: i - at, size: 4 };
      if (opcode === 0x0f) immediate = 1; // 3DNow!: ModRM, then its opcode as a suffix byte
      else if (branch) immediate = 4;
      else if (MAP2_IMM8.has(opcode)) immediate = 1;
      if (!MAP2_NO_MODRM.has(opcode)) {
        if (i >= code.length) return undefined;
        i += modrmLength(code, i);
      }
    }
  } else if (first >= 0x70 && first <= 0x7f) {
    branch = { kind: 'jcc', condition: first & 0xf, at: i - at, size: 1 };
    immediate = 1;
  } else if (first === 0xeb || first === 0xe9 || first === 0xe8) {
    const size = first === 0xeb ? 1 : 4;
    branch = { kind: first === 0xe8 ? 'call' : 'jmp', condition: 0, at: i - at, size };
    immediate = size;
  } else if (first >= 0xe0 && first <= 0xe3) {
    branch = { kind: 'loop', condition: first, at: i - at, size: 1 };
    immediate = 1;
  } else if ([0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea].includes(first)) {
    return undefined; // invalid in 64-bit mode
  } else {
    const reg = i < code.length ? (code[i] >> 3) & 7 : 0;
    if (MAP1_MODRM.has(first)) {
      if (i >= code.length) return undefined;
      i += modrmLength(code, i);
    }
    immediate = map1Immediate(first, reg, osize16, rexW);
  }
  length = i - at + immediate;
  if (at + length > code.length) return undefined;
  return { length, ...(branch && { branch }), ...(isPadding(code, at, length) && { nop: true }) };
}

function isPadding(code: Uint8Array, at: number, length: number): boolean {
  let i = at;
  while (code[i] === 0x66 || code[i] === 0x2e || code[i] === 0x3e) i++;
  if (code[i] === 0x90) return i + 1 === at + length; // not REX + 90 (xchg %r8,%rax)
  return code[i] === 0x0f && code[i + 1] === 0x1f && ((code[i + 2] >> 3) & 7) === 0;
}

/** Where a relative branch goes, as an offset in `code` (may lie outside it). */
export function branchTarget(code: Uint8Array, at: number, insn: Instruction): number | undefined {
  const b = insn.branch;
  if (!b) return undefined;
  const view = Buffer.from(code.buffer, code.byteOffset, code.byteLength);
  const rel = b.size === 1 ? view.readInt8(at + b.at) : view.readInt32LE(at + b.at);
  return at + insn.length + rel;
}
