// A patch as people publish it may be an mbox of several `git format-patch` mails (a series, applied in order).
// Splits such a text into its messages at the mbox "From " separator lines; any other text is one message.

/** `From <sha or address> <asctime date>`: git format-patch writes `From <40 hex> Mon Sep 17 00:00:00 2001`. */
const MBOX_FROM_RE = /^From \S+ +(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{1,2}:\d\d:\d\d( [+-]?\d{4})? \d{4}$/;

/** The messages of an mbox in order, each starting with its separator line; the whole text when it is not an mbox. */
export function splitMessages(text: string): string[] {
  const lines = text.split('\n');
  const starts = lines.flatMap((line, i) => (MBOX_FROM_RE.test(line) ? [i] : []));
  if (starts.length <= 1) return [text];
  // Text before the first separator (rare: a note in front) belongs to the first message.
  starts[0] = 0;
  return starts.map((start, k) => {
    const end = k + 1 < starts.length ? starts[k + 1] : lines.length;
    return lines.slice(start, end).join('\n') + (end < lines.length ? '\n' : '');
  });
}
