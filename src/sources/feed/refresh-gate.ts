// Rate limit of the feed's refreshes. Requests come in bursts (a Refresh() per apt hook call, apt's lists changing
// file by file, several admins): requests within `debounceMs` of the first join one refresh; a request while one
// runs queues exactly one more, after it; a request whose cause is older than the start of a refresh is covered by
// that refresh and dropped (one in the same millisecond queues: the safe side).

export type GateAnswer = 'scheduled' | 'joined' | 'queued' | 'covered';

export class RefreshGate {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private lastStart = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly refresh: () => Promise<void>,
    private readonly debounceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `cause`: when what asks for the refresh happened (now for a call; the last list change for the watch). */
  request(cause = this.now()): GateAnswer {
    if (this.stopped || cause < this.lastStart) return 'covered';
    if (this.timer !== null || this.again) return 'joined';
    if (this.running !== null) {
      this.again = true;
      return 'queued';
    }
    this.timer = setTimeout(() => this.start(), this.debounceMs);
    return 'scheduled';
  }

  /** Resolves once no refresh runs or waits; none starts after. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Resolves when no refresh is running or scheduled (tests, orderly stops). */
  async idle(): Promise<void> {
    while (this.running !== null || this.timer !== null) await (this.running ?? new Promise((r) => setTimeout(r, 10)));
  }

  private start(): void {
    this.timer = null;
    this.lastStart = this.now();
    this.running = this.refresh().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.start();
      }
    });
  }
}
