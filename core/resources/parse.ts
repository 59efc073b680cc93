// Reads YAML (one or many documents) or JSON into plain documents, with line numbers in errors.
import { parseAllDocuments } from 'yaml';
import { MeshError } from '../errors.js';

export interface SourceDocument {
  /** Plain value of the document. */
  value: unknown;
  /** 1-based line where the document starts, to name it in messages. */
  line: number;
  /** Human description, e.g. "document 2 (line 14) of bookinfo.yaml". */
  where: string;
}

const MAX_ALIAS_COUNT = 100;

export function parseDocuments(text: string, source = 'input'): SourceDocument[] {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const out: SourceDocument[] = [];
  let index = 0;
  for (const doc of docs) {
    index += 1;
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0]?.line;
      const first = e.message.split('\n')[0];
      throw new MeshError('PARSE_ERROR', `${source}${line ? `, line ${line}` : ''}: ${first}`, {
        details: { line, column: e.linePos?.[0]?.col, source },
      });
    }
    let value: unknown;
    try {
      // An alias expanding to more than this many nodes (a "billion laughs" bomb) is refused.
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (err) {
      throw new MeshError('PARSE_ERROR', `${source}, document ${index}: ${(err as Error).message}; an alias (*name) may stand for at most ${MAX_ALIAS_COUNT} nodes`, {
        cause: err,
        details: { source },
      });
    }
    if (value === null || value === undefined) continue; // empty document between `---`
    const offset = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
    const line = text.slice(0, offset).split('\n').length;
    out.push({ value, line, where: `document ${index} (line ${line}) of ${source}` });
  }
  return out;
}
