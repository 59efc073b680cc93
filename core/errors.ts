// Typed errors with stable codes. Every layer throws MeshError; the API maps codes to HTTP
// statuses in exactly one place (controller/api/http-errors.ts) and meshctl prints messages.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // a request or option is malformed
  | 'VALIDATION_FAILED' // a resource broke one or more rules; see violations
  | 'PARSE_ERROR' // YAML/JSON/PEM/DER that cannot be read
  | 'UNKNOWN_KIND'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT' // optimistic concurrency: the resourceVersion is stale, or the item exists
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED' // authenticated, but not for this (e.g. CSR identity mismatch)
  | 'PAYLOAD_TOO_LARGE'
  | 'RESOURCE_EXHAUSTED' // a caller's quota is used up for now; try again later
  | 'UNAVAILABLE' // a backend (Consul) cannot be reached
  | 'TIMEOUT'
  | 'INTERNAL';

export interface Violation {
  /** Field path in the submitted document, e.g. `spec.http[0].route[1].weight`. */
  path: string;
  message: string;
  /** Which document of a multi-document input, when there is more than one. */
  document?: string;
}

export class MeshError extends Error {
  readonly code: ErrorCode;
  readonly violations: Violation[];
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; violations?: Violation[]; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeshError';
    this.code = code;
    this.violations = options.violations ?? [];
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    const body: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.violations.length > 0) body.violations = this.violations;
    if (this.details) body.details = this.details;
    return body;
  }
}

export function isMeshError(err: unknown): err is MeshError {
  return err instanceof MeshError;
}

/** Wraps anything thrown into a MeshError, keeping the original as the cause. */
export function asMeshError(err: unknown, fallback: ErrorCode = 'INTERNAL'): MeshError {
  if (err instanceof MeshError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MeshError(fallback, message, { cause: err });
}

export function validationFailed(what: string, violations: Violation[]): MeshError {
  const lines = violations.map((v) => `  ${v.document ? `${v.document}: ` : ''}${v.path}: ${v.message}`).join('\n');
  return new MeshError('VALIDATION_FAILED', `${what} is invalid (${violations.length} violation${violations.length === 1 ? '' : 's'}):\n${lines}`, {
    violations,
  });
}
