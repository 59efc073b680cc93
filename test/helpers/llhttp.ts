// Node's own HTTP/1.1 parser (llhttp, as Node's HTTP server runs it: strict, no lenient flags),
// fed byte by byte, to tell exactly where each message ends: the reference the relay's readers
// are checked against. `_http_common` is Node's internal module that exposes it.
import { createRequire } from 'node:module';

const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as {
  HTTPParser: any;
  methods: string[];
};

export interface LlhttpMessage {
  method?: string;
  url?: string;
  status?: number;
  /** Flat name/value list as llhttp reports it. */
  headers: string[];
  upgrade: boolean;
  bodyBytes: number;
  /** Offset just past the message's last byte. */
  end: number;
  /** Offset just past the head. */
  headEnd: number;
}

export interface LlhttpResult {
  messages: LlhttpMessage[];
  /** Set when llhttp refused the input; `errorAt` is how many bytes it had taken by then. */
  error?: string;
  errorAt?: number;
}

/** Parses `buf` as requests (or responses; `headResponse`: the answer to HEAD, no body). */
export function llhttp(buf: Buffer, kind: 'request' | 'response' = 'request', headResponse = false): LlhttpResult {
  const parser = new HTTPParser();
  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, 0);
  const messages: LlhttpMessage[] = [];
  let current: LlhttpMessage | undefined;
  let offset = 0;
  let pending: string[] = [];
  let pendingUrl = '';
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pending = pending.concat(headers);
    pendingUrl += url;
  };
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, method: number, url: string | undefined, status: number, _msg: string, upgrade: boolean) => {
    current = {
      method: kind === 'request' ? methods[method] : undefined,
      url: url ?? pendingUrl,
      status: kind === 'response' ? status : undefined,
      headers: headers ?? pending,
      upgrade,
      bodyBytes: 0,
      end: -1,
      headEnd: offset + 1,
    };
    pending = [];
    pendingUrl = '';
    return headResponse ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (b: Buffer) => {
    if (current) current.bodyBytes += b.length;
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (!current) return;
    current.end = offset + 1;
    messages.push(current);
    current = undefined;
  };
  parser[HTTPParser.kOnExecute] = () => undefined;
  try {
    for (offset = 0; offset < buf.length; offset++) {
      const r = parser.execute(buf.subarray(offset, offset + 1));
      if (r instanceof Error) return { messages, error: (r as Error & { code?: string }).code ?? r.message, errorAt: offset };
      // An upgrade (or CONNECT) pauses the parser: what follows is not HTTP.
      if (messages.at(-1)?.upgrade || current?.upgrade) break;
    }
    return { messages };
  } finally {
    parser.finish?.();
    parser.close?.();
  }
}
