import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect } from 'node:net';
import type {
  MeshBackend,
  MeshService,
  MeshState,
  NetworkId,
  NodeId,
  ServiceId,
  TaskId,
} from '../../api/index.js';
import { deferred, withTimeout } from '../../common/index.js';
import { type DnsMessage, encodeMessage, parseMessage, RR_CLASS_IN } from './wire.js';

/** Test support for the DNS tests (not shipped: only test files import it). */
export const APP = 'net-app' as NetworkId;
export const OTHER = 'net-other' as NetworkId;
export const INGRESS = 'net-ingress' as NetworkId;
export const NODE1 = 'node-1' as NodeId;

/** A 25-character id as the cluster makes them, readable in tests: `t2web000…`. */
export function taskIdOf(service: string, slot: number): TaskId {
  return `t${slot}${service}`.padEnd(25, '0') as TaskId;
}

export function backend(service: string, slot: number, addrs: Record<string, string>): MeshBackend {
  const taskId = taskIdOf(service, slot);
  return {
    taskId,
    taskName: `${service}.${slot}.${taskId}`,
    nodeId: NODE1,
    addrs: Object.entries(addrs).map(([networkId, addr]) => ({ networkId: networkId as NetworkId, addr })),
  };
}

export function service(partial: Partial<MeshService> & { name: string }): MeshService {
  return {
    id: `svc-${partial.name}` as ServiceId,
    endpointMode: 'vip',
    vips: [],
    ports: [],
    backends: [],
    ...partial,
  };
}

export function fixture(revision = 1, extraBackends = 0): MeshState {
  const webBackends = [backend('web', 1, { [APP]: '10.0.1.10' }), backend('web', 2, { [APP]: '10.0.1.11' })];
  for (let i = 0; i < extraBackends; i++)
    webBackends.push(backend('web', 3 + i, { [APP]: `10.0.1.${12 + i}` }));
  return {
    revision,
    networks: [
      {
        id: INGRESS,
        name: 'ingress',
        vni: 4096,
        subnet: '10.255.0.0/16',
        gateway: '10.255.0.1',
        ingress: true,
        attachable: false,
      },
      {
        id: APP,
        name: 'app',
        vni: 4097,
        subnet: '10.0.1.0/24',
        gateway: '10.0.1.1',
        ingress: false,
        attachable: false,
      },
      {
        id: OTHER,
        name: 'other',
        vni: 4098,
        subnet: '10.0.2.0/24',
        gateway: '10.0.2.1',
        ingress: false,
        attachable: false,
      },
    ],
    nodes: [
      {
        nodeId: NODE1,
        addr: '192.0.2.1',
        networkAddrs: [
          { networkId: INGRESS, addr: '10.255.0.2' },
          { networkId: APP, addr: '10.0.1.250' },
        ],
      },
    ],
    services: [
      service({
        name: 'web',
        vips: [{ networkId: APP, addr: '10.0.1.2' }],
        ports: [
          { name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
        ],
        backends: webBackends,
      }),
      service({
        name: 'db',
        endpointMode: 'dnsrr',
        ports: [{ protocol: 'udp', targetPort: 5353, publishedPort: 5353, publishMode: 'host' }],
        backends: [backend('db', 1, { [APP]: '10.0.1.20' }), backend('db', 2, { [APP]: '10.0.1.21' })],
      }),
      service({
        name: 'hidden',
        vips: [{ networkId: OTHER, addr: '10.0.2.2' }],
        backends: [backend('hidden', 1, { [OTHER]: '10.0.2.10' })],
      }),
    ],
  };
}

let nextId = 1;

export function queryBytes(name: string, type: number, opts: { id?: number; edns?: number } = {}): Buffer {
  const id = opts.id ?? nextId++ % 65_536;
  return encodeMessage({
    id,
    flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type, class: RR_CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
    ...(opts.edns === undefined ? {} : { udpPayloadSize: opts.edns }),
  });
}

/** A UDP client that collects every reply it gets, keyed by ID. */
export class UdpDnsClient {
  private readonly socket: UdpSocket = createSocket('udp4');
  private readonly waiters = new Map<number, (m: DnsMessage) => void>();
  readonly received: DnsMessage[] = [];

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.socket.on('message', (buf) => {
      const msg = parseMessage(buf);
      this.received.push(msg);
      this.waiters.get(msg.id)?.(msg);
    });
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.send(bytes, this.port, this.host);
  }

  async ask(name: string, type: number, opts: { edns?: number } = {}): Promise<DnsMessage> {
    const bytes = queryBytes(name, type, opts);
    return this.askRaw(bytes);
  }

  askRaw(bytes: Buffer): Promise<DnsMessage> {
    const id = bytes.readUInt16BE(0);
    const d = deferred<DnsMessage>();
    this.waiters.set(id, d.resolve);
    this.sendRaw(bytes);
    return withTimeout(d.promise, 3_000, `dns reply ${id}`);
  }

  close(): void {
    this.socket.close();
  }
}

export async function askTcp(host: string, port: number, name: string, type: number): Promise<DnsMessage> {
  const q = queryBytes(name, type);
  const socket = connect({ host, port });
  const d = deferred<DnsMessage>();
  let buf = Buffer.alloc(0);
  socket.on('error', d.reject);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) d.resolve(parseMessage(buf.subarray(2)));
  });
  const framed = Buffer.alloc(q.length + 2);
  framed.writeUInt16BE(q.length, 0);
  q.copy(framed, 2);
  socket.write(framed);
  try {
    return await withTimeout(d.promise, 3_000, 'dns tcp reply');
  } finally {
    socket.destroy();
  }
}
