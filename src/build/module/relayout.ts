// Room in a function's code: an instruction at a given offset grows (a 2-byte static-branch site becomes a 5-byte
// jump, static-branch.ts), and everything after it moves. The function is decoded instruction by instruction;
// relocation-free relative branches (the function's own jumps) get new displacements, a short one that no longer
// reaches is promoted to its near form (which may move code again, until nothing changes). Relocations and
// references into the function are moved by the returned map, which the caller applies.

import { SplicedError } from '../../errors';
import { branchTarget, decodeInstruction, Instruction } from '../../elf/x86-decode';

export interface Relayout {
  code: Buffer;
  /** New offset of an old one: an instruction boundary, a byte inside an unchanged instruction, or the end. */
  map(offset: bigint): bigint;
}

interface Slot {
  start: number;
  insn: Instruction;
  /** Index of the instruction a relocation-free branch goes to (`slots.length`: the end of the function). */
  target?: number;
  size: number;
}

const NEAR_SIZE = { jmp: 5, jcc: 6 } as const;

/** `grow`: new sizes of the instructions at these offsets (each must be an instruction boundary). */
export function relayout(code: Buffer, relocated: ReadonlySet<number>, grow: ReadonlyMap<number, number>, what: string): Relayout {
  const slots: Slot[] = [];
  const at = new Map<number, number>();
  for (let start = 0; start < code.length; ) {
    const insn = decodeInstruction(code, start);
    if (!insn) throw refusal(what, `cannot decode the instruction at +${start}`);
    at.set(start, slots.length);
    slots.push({ start, insn, size: grow.get(start) ?? insn.length });
    start += insn.length;
  }
  at.set(code.length, slots.length);
  for (const offset of grow.keys()) if (!at.has(offset)) throw refusal(what, `+${offset} is not an instruction boundary`);
  for (const slot of slots) {
    const b = slot.insn.branch;
    if (!b || relocated.has(slot.start + b.at)) continue;
    const target = at.get(branchTarget(code, slot.start, slot.insn)!);
    if (target === undefined) throw refusal(what, `the jump at +${slot.start} does not land on an instruction of the function`);
    slot.target = target;
  }
  let starts = layout(slots);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [i, slot] of slots.entries()) {
      const b = slot.insn.branch;
      if (slot.target === undefined || b!.size !== 1 || slot.size !== slot.insn.length || grow.has(slot.start)) continue;
      const displacement = starts[slot.target] - (starts[i] + slot.size);
      if (displacement >= -128 && displacement <= 127) continue;
      if (b!.kind === 'loop' || b!.kind === 'call' || b!.at !== 1) throw refusal(what, `the short jump at +${slot.start} no longer reaches and has no near form`);
      slot.size = NEAR_SIZE[b!.kind];
      changed = true;
    }
    if (changed) starts = layout(slots);
  }
  return { code: emit(code, slots, starts, grow), map: (offset) => BigInt(moved(slots, starts, at, Number(offset), code.length)) };
}

/** Each slot's new start, and the new end last. */
function layout(slots: Slot[]): number[] {
  const starts = [0];
  slots.forEach((slot, i) => starts.push(starts[i] + slot.size));
  return starts;
}

function emit(code: Buffer, slots: Slot[], starts: number[], grow: ReadonlyMap<number, number>): Buffer {
  const out = Buffer.alloc(starts[slots.length]);
  slots.forEach((slot, i) => {
    const { start, insn, size, target } = slot;
    if (grow.has(start)) return; // the caller writes the grown instruction
    const b = insn.branch;
    const end = starts[i] + size;
    if (target === undefined || !b) {
      code.copy(out, starts[i], start, start + insn.length);
    } else if (size === insn.length) {
      code.copy(out, starts[i], start, start + insn.length);
      if (b.size === 1) out.writeInt8(starts[target] - end, starts[i] + b.at);
      else out.writeInt32LE(starts[target] - end, starts[i] + b.at);
    } else {
      const opcode = b.kind === 'jmp' ? [0xe9] : [0x0f, 0x80 | b.condition];
      out.set(opcode, starts[i]);
      out.writeInt32LE(starts[target] - end, starts[i] + opcode.length);
    }
  });
  return out;
}

function moved(slots: Slot[], starts: number[], at: ReadonlyMap<number, number>, offset: number, length: number): number {
  const boundary = at.get(offset);
  if (boundary !== undefined) return starts[boundary];
  if (offset < 0 || offset > length) return offset;
  let low = 0;
  let high = slots.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (slots[mid].start <= offset) low = mid;
    else high = mid - 1;
  }
  return starts[low] + (offset - slots[low].start);
}

function refusal(what: string, why: string): SplicedError {
  return new SplicedError('UnsafePatch', `${what}: the code cannot be moved to make room (${why})`, { reason: 'special-section' });
}
