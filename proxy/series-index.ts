// A metric's series found by their label values: a tree of maps, one level per label name. The
// sidecar looks a series up for every request (a dozen of Istio's labels) and every TCP chunk;
// joining the values into one key made a new string of a few hundred characters each time, and
// hashing and comparing it was most of a lookup. The values themselves mostly come from the
// snapshot and the endpoint, the same strings each time, whose hashes V8 keeps.

type LabelValues = Readonly<Record<string, string | number | undefined>>;

export class SeriesIndex<T> {
  private root: Map<string, unknown> = new Map();
  private readonly order: T[] = [];

  constructor(
    /** The label names, in the order of the tree's levels. */
    private readonly labelNames: readonly string[],
    /** Makes a new series from its labels (a missing label's value is ''). */
    private readonly make: (labels: Record<string, string>) => T,
  ) {}

  /** The series of these label values, made on first use; labels not named are ignored. */
  get(labels: LabelValues): T {
    const names = this.labelNames;
    let node = this.root;
    for (let i = 0; i < names.length - 1; i++) {
      const value = valueOf(labels[names[i]]);
      let next = node.get(value) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(value, (next = new Map()));
      node = next;
    }
    const leaf = names.length === 0 ? '' : valueOf(labels[names[names.length - 1]]);
    let series = node.get(leaf) as T | undefined;
    if (series === undefined) {
      const own: Record<string, string> = {};
      for (const name of names) own[name] = valueOf(labels[name]);
      series = this.make(own);
      node.set(leaf, series);
      this.order.push(series);
    }
    return series;
  }

  /** Every series, in the order they were first used (the exposition's order). */
  values(): readonly T[] {
    return this.order;
  }

  clear(): void {
    this.root = new Map();
    this.order.length = 0;
  }
}

function valueOf(v: string | number | undefined): string {
  return v === undefined ? '' : typeof v === 'string' ? v : String(v);
}
