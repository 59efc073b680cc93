// Waiting for a sidecar: its status port answers GET /healthz/ready with 200 once it holds a certificate
// and a snapshot. Shared by the agent (before capture and registration) and the systemd units'
// capture hook.

/**
 * Polls until the sidecar is ready (true), or the time is up or `alive()` says it is gone
 * (false). `alive` is asked between polls, so a sidecar that exited is not waited for.
 */
export async function sidecarReady(address: string, statusPort: number, timeoutMs: number, alive: () => boolean | Promise<boolean> = () => true): Promise<boolean> {
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${statusPort}/healthz/ready`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return true;
    if (!(await alive())) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
