// `__LINE__` noise: a patch that adds or removes lines changes the line numbers some functions pass as immediate
// operands (`ext4_error(sb, __func__, __LINE__, …)`), though their logic is untouched. With the patch's hunks the
// differ knows where each unchanged pre line went; a function whose only differences are 32-bit fields holding a pre
// line number in the post function at its new place is unchanged.

/** Pre line → post line for lines the patch leaves alone; undefined for removed or changed lines. */
export type LineMap = (preLine: number) => number | undefined;

/**
 * The line map of one file from its unified-diff text (the hunks of that file only). A series that changes the file
 * in several mails gives its diffs one after the other: the map is their composition.
 */
export function lineMapOf(fileDiff: string): LineMap {
  const maps = diffsOf(fileDiff).map(singleLineMap);
  return (line) => maps.reduce<number | undefined>((at, map) => (at === undefined ? undefined : map(at)), line);
}

const HUNK_RE = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** Splits successive diffs of one file at a `--- ` header that follows hunks (hunk lines counted, so never inside one). */
function diffsOf(text: string): string[] {
  const diffs: string[][] = [[]];
  let left = 0;
  let sawHunk = false;
  for (const line of text.split('\n')) {
    const head = left === 0 ? HUNK_RE.exec(line) : null;
    if (head) {
      left = (head[2] === undefined ? 1 : Number(head[2])) + (head[4] === undefined ? 1 : Number(head[4]));
      sawHunk = true;
    } else if (left > 0) {
      // A context line counts on both sides, a removed or added line on one.
      left -= line.startsWith('-') || line.startsWith('+') ? 1 : line.startsWith('\\') ? 0 : 2;
      left = Math.max(left, 0);
    } else if (line.startsWith('--- ') && sawHunk) {
      diffs.push([]);
      sawHunk = false;
    }
    diffs[diffs.length - 1].push(line);
  }
  return diffs.map((lines) => lines.join('\n'));
}

function singleLineMap(fileDiff: string): LineMap {
  const hunks: { preStart: number; preEnd: number; mapped: Map<number, number>; delta: number }[] = [];
  let current: (typeof hunks)[number] | undefined;
  let pre = 0;
  let post = 0;
  for (const line of fileDiff.split('\n')) {
    const head = HUNK_RE.exec(line);
    if (head) {
      pre = Number(head[1]);
      post = Number(head[3]);
      const preCount = head[2] === undefined ? 1 : Number(head[2]);
      const postCount = head[4] === undefined ? 1 : Number(head[4]);
      current = { preStart: pre, preEnd: pre + preCount, mapped: new Map(), delta: postCount - preCount };
      hunks.push(current);
      continue;
    }
    if (!current) continue;
    if (line.startsWith(' ')) current.mapped.set(pre++, post++);
    else if (line.startsWith('-')) pre++;
    else if (line.startsWith('+')) post++;
  }
  return (line) => {
    let delta = 0;
    for (const hunk of hunks) {
      if (line >= hunk.preEnd) delta += hunk.delta;
      else if (line >= hunk.preStart) return hunk.mapped.get(line);
    }
    return line + delta;
  };
}

/**
 * True when `pre` and `post` (same length, relocation fields already masked) differ only in 32-bit little-endian
 * fields whose pre value is a line the map moves to exactly the post value.
 */
export function differsOnlyInLineNumbers(pre: Buffer, post: Buffer, lines: LineMap): boolean {
  if (pre.length !== post.length || pre.equals(post)) return false;
  let i = 0;
  while (i < pre.length) {
    if (pre[i] === post[i]) {
      i++;
      continue;
    }
    let end = i;
    while (end < pre.length && pre[end] !== post[end]) end++;
    // A field of 4 bytes covering the differing run [i, end).
    let explained = false;
    for (let start = Math.max(0, end - 4); start <= i && start + 4 <= pre.length; start++) {
      const before = pre.readUInt32LE(start);
      if (before > 0 && before < 1_000_000 && lines(before) === post.readUInt32LE(start) && before !== post.readUInt32LE(start)) {
        explained = true;
        i = start + 4;
        break;
      }
    }
    if (!explained) return false;
  }
  return true;
}
