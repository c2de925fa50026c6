import { type Disposable, errorMessage, type Logger } from '../../common/index.js';

/**
 * Reports, over one session, the MeshState revisions this node's data plane has applied: one
 * call at a time, only the newest revision when several were applied meanwhile. A failed report
 * is not retried (the session is likely ending; the next one reports again); the leader stops
 * waiting for this node after its timeout.
 */
export class MeshAckReporter implements Disposable {
  private latest = -1;
  private sent = -1;
  private sending = false;
  private closed = false;

  constructor(
    private readonly send: (revision: number) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  applied(revision: number): void {
    if (this.closed || revision <= this.latest) return;
    this.latest = revision;
    void this.pump();
  }

  dispose(): void {
    this.closed = true;
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (!this.closed && this.sent < this.latest) {
        const revision = this.latest;
        await this.send(revision);
        this.sent = revision;
      }
    } catch (e) {
      if (!this.closed) this.log.info('mesh revision report failed', { error: errorMessage(e) });
    } finally {
      this.sending = false;
    }
  }
}
