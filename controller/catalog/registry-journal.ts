// The embedded registry on disk: a compacted file (every registration, a JSON array) and an
// append-only journal of the changes since, one JSON line each, so that a change costs one
// small append instead of rewriting every registration. Replay tolerates a torn last line (a
// crash mid-append loses that change only); compaction folds the journal back into the file.
import type { InstanceRegistration } from '../../core/catalog-model.js';

export type JournalEntry = { op: 'put'; r: InstanceRegistration } | { op: 'del'; id: string };

export function encodeEntry(e: JournalEntry): string {
  return `${JSON.stringify(e)}\n`;
}

/**
 * The registrations after `base` and the journal's changes, in order. A line that does not parse
 * is an error, unless it is the last one and unterminated (torn by a crash): then it is skipped.
 */
export function replay(base: readonly InstanceRegistration[], journal: string): { registrations: Map<string, InstanceRegistration>; applied: number; torn: boolean } {
  const registrations = new Map(base.map((r) => [r.id, r]));
  const lines = journal.split('\n');
  const tail = lines.pop() ?? '';
  let applied = 0;
  const apply = (line: string, at: number) => {
    const e = JSON.parse(line) as JournalEntry;
    if (e.op === 'put' && e.r && typeof e.r.id === 'string') registrations.set(e.r.id, e.r);
    else if (e.op === 'del' && typeof e.id === 'string') registrations.delete(e.id);
    else throw new Error(`line ${at + 1}: not a journal entry`);
    applied++;
  };
  lines.forEach((line, i) => {
    if (line.trim()) apply(line, i);
  });
  let torn = false;
  if (tail.trim()) {
    try {
      apply(tail, lines.length);
    } catch {
      torn = true;
    }
  }
  return { registrations, applied, torn };
}
