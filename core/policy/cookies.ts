// The Cookie request header (RFC 6265 section 5.4: `name=value` pairs separated by "; "), read
// for one cookie's value. HTTP/2 may split cookies over several header fields; they are one list.

/** The value of the first cookie of that name (names compare exactly), its double quotes removed; undefined when there is none. */
export function cookieValue(header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const field of typeof header === 'string' ? [header] : header) {
    for (const pair of field.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
      const value = pair.slice(eq + 1).trim();
      return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
  }
  return undefined;
}
