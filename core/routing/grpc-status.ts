// gRPC status codes and HTTP statuses, both ways, written once: the sidecar's own answers to a
// gRPC caller carry the gRPC status for their HTTP status (gRPC's doc/http-grpc-status-mapping.md,
// as Envoy's sendLocalReply does), and outlier detection counts a gRPC answer by the HTTP status
// its grpc-status stands for (as Envoy's router reports it to the outlier detector).

/** The gRPC status a caller gets for an HTTP status the sidecar answers with. */
export function grpcStatusForHttp(status: number): number {
  if (status === 400) return 13;
  if (status === 401) return 16;
  if (status === 403) return 7;
  if (status === 404) return 12;
  if (status === 429 || status === 502 || status === 503 || status === 504) return 14;
  return 2;
}

/** gRPC's status codes by name, in code order (doc/statuscodes.md): the names Istio's fault abort takes. */
export const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

const HTTP_FOR_GRPC = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** The HTTP status a grpc-status stands for (Envoy's Grpc::Utility::grpcToHttpStatus); 500 for codes gRPC does not define. */
export function httpStatusForGrpc(grpcStatus: string | number): number {
  const code = Number(grpcStatus);
  return Number.isInteger(code) && code >= 0 && code < HTTP_FOR_GRPC.length ? HTTP_FOR_GRPC[code] : 500;
}
