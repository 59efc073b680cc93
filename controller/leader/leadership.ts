// Work that must run once in the mesh, not once per controller (the CA root's renewal), runs at
// the leader only. One controller is always its own leader; with Consul, controllers elect one
// through a Consul session and a lock (consul-leadership.ts).

export interface Leadership {
  start(): void;
  /** True while this controller holds the leadership. */
  isLeader(): boolean;
  /** Gives the leadership up at once (a successor need not wait for it to expire), and stops. */
  close(): Promise<void>;
}

export class SoleLeader implements Leadership {
  start(): void {}
  isLeader(): boolean {
    return true;
  }
  async close(): Promise<void> {}
}
