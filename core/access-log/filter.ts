// Istio's Telemetry accessLogging filter: a CEL expression over request, response and connection
// attributes (`response.code >= 400`, `request.headers['x-debug'] == 'on' || connection.mtls == false`).
// This is the part of CEL those filters use: literals, attributes, comparisons, &&, ||, !,
// parentheses and the string functions startsWith, endsWith and contains. Anything else is
// refused when the resource is applied, with where and why, not at request time. Pure.

export type Value = string | number | boolean | undefined;

export type Expr =
  | { type: 'literal'; value: string | number | boolean }
  | { type: 'attribute'; name: string; key?: string }
  | { type: 'not'; operand: Expr }
  | { type: 'and' | 'or'; left: Expr; right: Expr }
  | { type: 'compare'; op: '==' | '!=' | '<' | '<=' | '>' | '>='; left: Expr; right: Expr }
  | { type: 'call'; fn: 'startsWith' | 'endsWith' | 'contains'; target: Expr; arg: Expr };

/** Attributes a filter may read, with their type (Envoy's attribute names). */
export const FILTER_ATTRIBUTES: Record<string, 'string' | 'int' | 'bool' | 'map'> = {
  'request.method': 'string',
  'request.path': 'string',
  'request.url_path': 'string',
  'request.host': 'string',
  'request.scheme': 'string',
  'request.protocol': 'string',
  'request.id': 'string',
  'request.useragent': 'string',
  'request.headers': 'map',
  'response.code': 'int',
  'response.code_details': 'string',
  'response.flags': 'string',
  'response.grpc_status': 'string',
  'connection.mtls': 'bool',
  'source.address': 'string',
  'source.principal': 'string',
  'upstream.address': 'string',
};

export class FilterSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'FilterSyntaxError';
  }
}

const MAX_LENGTH = 4096;
const MAX_DEPTH = 64;
const TOKEN = /\s*(?:(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(==|!=|<=|>=|&&|\|\||[<>!()[\].,])|([A-Za-z_][A-Za-z0-9_]*))/y;

interface Token {
  kind: 'int' | 'string' | 'op' | 'ident' | 'end';
  text: string;
  at: number;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(src);
    if (!m) throw new FilterSyntaxError(`unexpected "${src.slice(at).trimStart()[0]}"`, at + (src.slice(at).length - src.slice(at).trimStart().length));
    const start = m.index + m[0].length - m[0].trimStart().length;
    if (m[1] !== undefined) out.push({ kind: 'int', text: m[1], at: start });
    else if (m[2] !== undefined || m[3] !== undefined) out.push({ kind: 'string', text: unescape(m[2] ?? m[3]), at: start });
    else if (m[4] !== undefined) out.push({ kind: 'op', text: m[4], at: start });
    else out.push({ kind: 'ident', text: m[5], at: start });
    at = TOKEN.lastIndex;
  }
  out.push({ kind: 'end', text: '', at: src.length });
  return out;
}

/** Parses a filter; throws FilterSyntaxError saying what is wrong and where. */
export function parseFilter(src: string): Expr {
  if (src.length > MAX_LENGTH) throw new FilterSyntaxError(`longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  const tokens = tokenize(src);
  let i = 0;
  let depth = 0;
  const peek = () => tokens[i];
  const isOp = (text: string) => peek().kind === 'op' && peek().text === text;
  const expect = (text: string) => {
    if (!isOp(text)) throw new FilterSyntaxError(`expected "${text}"${peek().kind === 'end' ? ' before the end' : `, found "${peek().text}"`}`, peek().at);
    i++;
  };
  const nested = <T>(f: () => T): T => {
    if (++depth > MAX_DEPTH) throw new FilterSyntaxError(`nested more than ${MAX_DEPTH} deep`, peek().at);
    try {
      return f();
    } finally {
      depth--;
    }
  };

  const or = (): Expr =>
    nested(() => {
      let left = and();
      while (isOp('||')) {
        i++;
        left = { type: 'or', left, right: and() };
      }
      return left;
    });
  const and = (): Expr => {
    let left = compare();
    while (isOp('&&')) {
      i++;
      left = { type: 'and', left, right: compare() };
    }
    return left;
  };
  // As in CEL, `!` binds tighter than a comparison: `!a == b` is `(!a) == b`.
  const compare = (): Expr => {
    const left = unary();
    const t = peek();
    if (t.kind === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      i++;
      return { type: 'compare', op: t.text as '==', left, right: unary() };
    }
    return left;
  };
  const unary = (): Expr => {
    if (isOp('!')) {
      i++;
      return nested(() => ({ type: 'not', operand: unary() }));
    }
    return postfix();
  };
  const postfix = (): Expr => {
    let e = primary();
    while (isOp('.')) {
      i++;
      const name = peek();
      if (name.kind !== 'ident' || !['startsWith', 'endsWith', 'contains'].includes(name.text))
        throw new FilterSyntaxError(`only startsWith, endsWith and contains can be called, not "${name.text}"`, name.at);
      i++;
      expect('(');
      const arg = or();
      expect(')');
      e = { type: 'call', fn: name.text as 'contains', target: e, arg };
    }
    return e;
  };
  const primary = (): Expr => {
    const t = peek();
    if (t.kind === 'int') {
      i++;
      const value = Number(t.text);
      if (!Number.isSafeInteger(value)) throw new FilterSyntaxError(`${t.text} is too large`, t.at);
      return { type: 'literal', value };
    }
    if (t.kind === 'string') {
      i++;
      return { type: 'literal', value: t.text };
    }
    if (t.kind === 'op' && t.text === '(') {
      i++;
      const e = or();
      expect(')');
      return e;
    }
    if (t.kind === 'ident') {
      if (t.text === 'true' || t.text === 'false') {
        i++;
        return { type: 'literal', value: t.text === 'true' };
      }
      return attribute();
    }
    throw new FilterSyntaxError(t.kind === 'end' ? 'the expression ends too early' : `unexpected "${t.text}"`, t.at);
  };
  const attribute = (): Expr => {
    const start = peek().at;
    const parts = [tokens[i++].text];
    // `.name` goes on the attribute while it still names (the start of) one; after that, a method call.
    const extends_ = (next: string) => {
      const candidate = [...parts, next].join('.');
      return Object.keys(FILTER_ATTRIBUTES).some((k) => k === candidate || k.startsWith(`${candidate}.`));
    };
    while (isOp('.') && tokens[i + 1]?.kind === 'ident' && extends_(tokens[i + 1].text)) {
      i++;
      parts.push(tokens[i++].text);
    }
    const name = parts.join('.');
    const type = FILTER_ATTRIBUTES[name];
    if (!type) {
      const shown = isOp('.') && tokens[i + 1]?.kind === 'ident' ? `${name}.${tokens[i + 1].text}` : name;
      throw new FilterSyntaxError(`unknown attribute "${shown}"; known: ${Object.keys(FILTER_ATTRIBUTES).join(', ')}`, start);
    }
    if (type !== 'map') return { type: 'attribute', name };
    expect('[');
    const key = peek();
    if (key.kind !== 'string') throw new FilterSyntaxError(`${name}[...] takes a quoted header name`, key.at);
    i++;
    expect(']');
    return { type: 'attribute', name, key: key.text.toLowerCase() };
  };

  const e = or();
  if (peek().kind !== 'end') throw new FilterSyntaxError(`unexpected "${peek().text}" after a complete expression`, peek().at);
  return e;
}

/** What a filter reads at the end of a request or connection. */
export interface FilterFacts {
  get(name: string): Value;
  header(name: string): string | undefined;
}

function value(e: Expr, facts: FilterFacts): Value {
  switch (e.type) {
    case 'literal':
      return e.value;
    case 'attribute':
      return e.key !== undefined ? facts.header(e.key) : facts.get(e.name);
    case 'not': {
      const v = value(e.operand, facts);
      return typeof v === 'boolean' ? !v : undefined;
    }
    case 'and': {
      const l = value(e.left, facts);
      if (l === false) return false;
      const r = value(e.right, facts);
      return l === true && typeof r === 'boolean' ? r : r === false ? false : undefined;
    }
    case 'or': {
      const l = value(e.left, facts);
      if (l === true) return true;
      const r = value(e.right, facts);
      return l === false && typeof r === 'boolean' ? r : r === true ? true : undefined;
    }
    case 'compare': {
      const l = value(e.left, facts);
      const r = value(e.right, facts);
      // CEL compares values of one type only; anything else (or a missing attribute) is an error, which logs nothing.
      if (l === undefined || r === undefined || typeof l !== typeof r) return undefined;
      switch (e.op) {
        case '==':
          return l === r;
        case '!=':
          return l !== r;
        case '<':
          return l < r;
        case '<=':
          return l <= r;
        case '>':
          return l > r;
        case '>=':
          return l >= r;
      }
      return undefined;
    }
    case 'call': {
      const t = value(e.target, facts);
      const a = value(e.arg, facts);
      if (typeof t !== 'string' || typeof a !== 'string') return undefined;
      return e.fn === 'startsWith' ? t.startsWith(a) : e.fn === 'endsWith' ? t.endsWith(a) : t.includes(a);
    }
  }
}

/** Whether the entry is logged: only a filter that evaluates to true logs it (an error logs nothing, as in Envoy). */
export function filterPasses(e: Expr, facts: FilterFacts): boolean {
  return value(e, facts) === true;
}

/** The expression written back as text, for error messages and round trips. */
export function printFilter(e: Expr): string {
  switch (e.type) {
    case 'literal':
      return typeof e.value === 'string' ? `'${e.value.replace(/[\\']/g, (c) => `\\${c}`)}'` : String(e.value);
    case 'attribute':
      return e.key !== undefined ? `${e.name}['${e.key.replace(/[\\']/g, (c) => `\\${c}`)}']` : e.name;
    case 'not':
      return `!(${printFilter(e.operand)})`;
    case 'and':
    case 'or':
      return `(${printFilter(e.left)} ${e.type === 'and' ? '&&' : '||'} ${printFilter(e.right)})`;
    case 'compare':
      return `(${printFilter(e.left)} ${e.op} ${printFilter(e.right)})`;
    case 'call':
      return `(${printFilter(e.target)}).${e.fn}(${printFilter(e.arg)})`;
  }
}
