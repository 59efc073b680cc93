// Defaults that apply where a DestinationRule or VirtualService says nothing. They follow
// Istio's (Envoy's) defaults so behaviour carries over.
import type { ConnectionPool, RetryPolicy } from './types.js';

export const DEFAULT_CONNECTION_POOL: ConnectionPool = {
  maxConnections: 4_294_967_295,
  maxPendingRequests: 4_294_967_295,
  maxRequests: 4_294_967_295,
  maxRequestsPerConnection: 0,
  maxRetries: 4_294_967_295,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 3_600_000,
};

/** Istio's default retry policy on the implicit and every VirtualService route without `retries`. */
export const DEFAULT_RETRIES: RetryPolicy = {
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
};

export const DEFAULT_OUTLIER = {
  consecutive5xxErrors: 5,
  consecutiveGatewayErrors: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
  minHealthPercent: 0,
};
