// Envoy's local rate limit token bucket: starts full (maxTokens), gains tokensPerFill every
// fillInterval up to maxTokens; a request takes one token or is refused. Pure: the clock is
// passed in, so tests and the sidecar share the exact arithmetic.
export interface TokenBucketConfig {
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

export class TokenBucket {
  private tokens: number;
  private lastFill: number;

  constructor(
    readonly config: TokenBucketConfig,
    now: number,
  ) {
    this.tokens = config.maxTokens;
    this.lastFill = now;
  }

  /** Takes a token if one is left; false means the request is rate limited. */
  take(now: number): boolean {
    const fills = Math.floor((now - this.lastFill) / this.config.fillIntervalMs);
    if (fills > 0) {
      this.tokens = Math.min(this.config.maxTokens, this.tokens + fills * this.config.tokensPerFill);
      this.lastFill += fills * this.config.fillIntervalMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }

  sameAs(c: TokenBucketConfig): boolean {
    return c.maxTokens === this.config.maxTokens && c.tokensPerFill === this.config.tokensPerFill && c.fillIntervalMs === this.config.fillIntervalMs;
  }
}
