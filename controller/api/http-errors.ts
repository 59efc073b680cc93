// The one place that maps error codes to HTTP statuses. Handlers throw MeshError; this turns it
// into `{code, message, violations?}` JSON.
import type { ErrorCode } from '../../core/errors.js';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  VALIDATION_FAILED: 422,
  PARSE_ERROR: 400,
  UNKNOWN_KIND: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  PAYLOAD_TOO_LARGE: 413,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
};
