// The progress display while a job runs: one line rewritten in place on a terminal, one line per change otherwise
// (logs stay readable). Written to stderr so stdout carries only the result.

import type { JobView } from './client';

export class ProgressLine {
  private last = '';

  constructor(private readonly out: NodeJS.WriteStream) {}

  show(job: JobView): void {
    // The outcome is printed by the command itself.
    if (job.state === 'succeeded' || job.state === 'failed') return;
    const line = `[${String(job.progress).padStart(3)}%] ${job.state === 'queued' ? 'queued' : job.status}`;
    if (line === this.last) return;
    this.last = line;
    this.out.write(this.out.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
  }

  /** Leave the terminal line clean for the result. */
  end(): void {
    if (this.out.isTTY && this.last !== '') this.out.write('\r\x1b[K');
  }
}
