// A small schema language for Istio-shaped documents. It walks a whole document and collects
// every violation with its field path instead of stopping at the first, and it reports any
// field it does not know, because a silently ignored field is a policy that silently is not.
import type { Violation } from '../errors.js';
import { parseDurationMs } from '../duration.js';
import { re2Problem } from './re2-syntax.js';

export type Schema = (value: unknown, path: string, out: Violation[]) => void;

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'object' ? 'object' : typeof v);

export function str(opts: { enum?: readonly string[]; pattern?: RegExp; patternHint?: string; nonEmpty?: boolean; check?: (s: string) => string | undefined } = {}): Schema {
  return (v, path, out) => {
    if (typeof v !== 'string') return void out.push({ path, message: `must be a string, got ${typeName(v)}` });
    if (opts.nonEmpty && v.length === 0) return void out.push({ path, message: 'must not be empty' });
    if (opts.enum && !opts.enum.includes(v)) return void out.push({ path, message: `"${v}" is not one of ${opts.enum.join(', ')}` });
    if (opts.pattern && !opts.pattern.test(v)) return void out.push({ path, message: `"${v}" ${opts.patternHint ?? `does not match ${opts.pattern}`}` });
    const msg = opts.check?.(v);
    if (msg) out.push({ path, message: msg });
  };
}

export function int(opts: { min?: number; max?: number } = {}): Schema {
  return (v, path, out) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return void out.push({ path, message: `must be an integer, got ${typeName(v)}${typeof v === 'number' ? ` ${v}` : ''}` });
    if (opts.min !== undefined && v < opts.min) return void out.push({ path, message: `must be at least ${opts.min}, got ${v}` });
    if (opts.max !== undefined && v > opts.max) out.push({ path, message: `must be at most ${opts.max}, got ${v}` });
  };
}

export function num(opts: { min?: number; max?: number } = {}): Schema {
  return (v, path, out) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return void out.push({ path, message: `must be a number, got ${typeName(v)}` });
    if (opts.min !== undefined && v < opts.min) return void out.push({ path, message: `must be at least ${opts.min}, got ${v}` });
    if (opts.max !== undefined && v > opts.max) out.push({ path, message: `must be at most ${opts.max}, got ${v}` });
  };
}

export const bool: Schema = (v, path, out) => {
  if (typeof v !== 'boolean') out.push({ path, message: `must be true or false, got ${typeName(v)}` });
};

export const duration: Schema = (v, path, out) => {
  const r = parseDurationMs(v);
  if (typeof r === 'string') out.push({ path, message: r });
};

export const regex: Schema = (v, path, out) => {
  if (typeof v !== 'string') return void out.push({ path, message: `must be a regular expression string, got ${typeName(v)}` });
  try {
    new RegExp(v);
  } catch (err) {
    return void out.push({ path, message: `invalid regular expression: ${(err as Error).message}` });
  }
  const notRe2 = re2Problem(v);
  if (notRe2) out.push({ path, message: `"${v}" ${notRe2}` });
};

export const port: Schema = int({ min: 1, max: 65535 });

export function arr(item: Schema, opts: { min?: number } = {}): Schema {
  return (v, path, out) => {
    if (!Array.isArray(v)) return void out.push({ path, message: `must be a list, got ${typeName(v)}` });
    if (opts.min !== undefined && v.length < opts.min) out.push({ path, message: `must have at least ${opts.min} item${opts.min === 1 ? '' : 's'}` });
    v.forEach((x, i) => item(x, `${path}[${i}]`, out));
  };
}

export function map(value: Schema, opts: { key?: (key: string, path: string, out: Violation[]) => void } = {}): Schema {
  return (v, path, out) => {
    if (!isPlainObject(v)) return void out.push({ path, message: `must be a map, got ${typeName(v)}` });
    for (const [k, x] of Object.entries(v)) {
      const p = `${path}[${JSON.stringify(k)}]`;
      opts.key?.(k, p, out);
      value(x, p, out);
    }
  };
}

export interface ObjOptions {
  required?: string[];
  /** Istio fields this mesh does not implement, with the reason shown to the user. */
  unsupported?: Record<string, string>;
  /** Groups of fields of which at most one may be set (`exactlyOne` requires one). */
  oneOf?: { fields: string[]; exactlyOne?: boolean }[];
  /** Cross-field rules, run after the fields are checked. */
  check?: (v: Record<string, unknown>, path: string, out: Violation[]) => void;
}

export function obj(fields: Record<string, Schema>, opts: ObjOptions = {}): Schema {
  const known = Object.keys(fields);
  return (v, path, out) => {
    if (!isPlainObject(v)) return void out.push({ path, message: `must be an object, got ${typeName(v)}` });
    const join = (k: string) => (path ? `${path}.${k}` : k);
    for (const [k, x] of Object.entries(v)) {
      if (fields[k]) {
        if (x !== null && x !== undefined) fields[k](x, join(k), out);
      } else if (opts.unsupported?.[k]) {
        out.push({ path: join(k), message: `not supported by this mesh: ${opts.unsupported[k]}` });
      } else {
        out.push({ path: join(k), message: `unknown field; supported fields here: ${known.join(', ')}` });
      }
    }
    for (const r of opts.required ?? []) {
      if (v[r] === undefined || v[r] === null) out.push({ path: join(r), message: 'is required' });
    }
    for (const group of opts.oneOf ?? []) {
      const set = group.fields.filter((f) => v[f] !== undefined && v[f] !== null);
      if (set.length > 1) out.push({ path: join(set[1]), message: `only one of ${group.fields.join(', ')} may be set, found ${set.join(' and ')}` });
      else if (group.exactlyOne && set.length === 0) out.push({ path: path || '.', message: `one of ${group.fields.join(', ')} is required` });
    }
    opts.check?.(v, path, out);
  };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
