/**
 * The few Docker engine API calls the services benchmark needs, over the engine's unix socket:
 * how both orchestrators are observed in exactly the same way, and cheaply enough to poll often
 * (a CLI process per probe would cost more CPU than what it measures on a busy machine).
 */
import { request } from 'node:http';

/** The label both swarmctl and Docker Swarm mode put on a service's containers. */
export const SERVICE_LABEL = 'com.docker.swarm.service.name';

function call<T>(socketPath: string, method: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> =
      payload === undefined ? {} : { 'content-type': 'application/json' };
    const req = request({ socketPath, path, method, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300)
          reject(new Error(`engine ${method} ${path}: ${res.statusCode} ${text}`));
        else resolve((text === '' ? undefined : JSON.parse(text)) as T);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`engine ${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function getJson<T>(socketPath: string, path: string): Promise<T> {
  return call<T>(socketPath, 'GET', path);
}

/**
 * The engine alone, no orchestrator: creates and starts `count` containers of `image` at once
 * (labelled as containers of `service`), the floor under what any orchestrator can do.
 */
export async function runDirect(
  socketPath: string,
  image: string,
  service: string,
  count: number,
): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const { Id } = await call<{ Id: string }>(socketPath, 'POST', '/containers/create', {
        Image: image,
        Labels: { [SERVICE_LABEL]: service },
      });
      await call(socketPath, 'POST', `/containers/${Id}/start`);
    }),
  );
}

/** Removes (force) every container of `service` on the engine. */
export async function removeDirect(socketPath: string, service: string): Promise<void> {
  const q = new URLSearchParams({
    all: '1',
    filters: JSON.stringify({ label: [`${SERVICE_LABEL}=${service}`] }),
  });
  const list = await getJson<{ Id: string }[]>(socketPath, `/containers/json?${q}`);
  await Promise.all(list.map((c) => call(socketPath, 'DELETE', `/containers/${c.Id}?force=1`)));
}

/** Containers of `service` on the engine: running ones only, or all of them (any state). */
export async function serviceContainers(
  socketPath: string,
  service: string,
  which: 'running' | 'all',
): Promise<number> {
  const filters: Record<string, string[]> = { label: [`${SERVICE_LABEL}=${service}`] };
  if (which === 'running') filters.status = ['running'];
  const q = new URLSearchParams({ all: which === 'all' ? '1' : '0', filters: JSON.stringify(filters) });
  const list = await getJson<unknown[]>(socketPath, `/containers/json?${q}`);
  return list.length;
}
