// RequestAuthentication's outputClaimToHeaders: a verified token's claim as a header value.
// As Envoy's claim_to_headers: a dotted path reaches into nested objects; strings, integers and
// booleans are copied, other claims (lists, objects, absent ones) set no header.

/** The claim at `path` as a header value, or undefined when it is missing, not a scalar, or not printable ASCII. */
export function claimHeaderValue(claims: Readonly<Record<string, unknown>>, path: string): string | undefined {
  let at: unknown = claims;
  for (const key of path.split('.')) {
    if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  const value = typeof at === 'string' ? at : typeof at === 'boolean' || (typeof at === 'number' && Number.isSafeInteger(at)) ? String(at) : undefined;
  // A header carries visible ASCII, spaces and tabs; anything else (line breaks, control or
  // non-ASCII characters, which the sidecar's codecs would not pass through alike) sets no header.
  return value !== undefined && /^[\t\x20-\x7e]*$/.test(value) ? value : undefined;
}
