import { describe, expect, it } from 'vitest';
import type { LogContext, NodeId, ServiceId, TaskId } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import { formatContext, formatLine, parseSince, parseTail } from './service-logs.js';

const context: LogContext = {
  serviceId: 'svcid0123456789' as ServiceId,
  serviceName: 'web',
  taskId: 'abcdefghijklmnopqrstuvwxy' as TaskId,
  slot: 2,
  nodeId: 'node0123456789abcdef' as NodeId,
  nodeName: 'host1',
};
const all = { taskIds: true, trunc: true, resolve: true };

describe('service logs formatting', () => {
  it("prints docker's prefixes and their variants", () => {
    expect(formatContext(context, all)).toBe('web.2.abcdefghijkl@host1');
    expect(formatContext(context, { ...all, trunc: false })).toBe('web.2.abcdefghijklmnopqrstuvwxy@host1');
    expect(formatContext(context, { ...all, taskIds: false })).toBe('web.2@host1');
    expect(formatContext(context, { ...all, resolve: false })).toBe(
      'svcid0123456789.2.abcdefghijkl@node0123456789abcdef',
    );
    // A global task has no slot: the node ID names it, as in its container name.
    expect(formatContext({ ...context, slot: 0 }, all)).toBe('web.node0123456789abcdef.abcdefghijkl@host1');
  });

  it('pads the prefix to the widest one, adds the timestamp first, or prints the bare line', () => {
    const line = { stream: 'stdout' as const, line: 'hello', timestamp: Date.UTC(2024, 4, 1, 10, 0, 0, 123) };
    const flags = { timestamps: false, raw: false };
    expect(formatLine(line, 'web.1.x@h', flags, 12)).toBe('web.1.x@h       | hello\n');
    expect(formatLine(line, 'web.1.x@h', { ...flags, timestamps: true }, 0)).toBe(
      '2024-05-01T10:00:00.123Z web.1.x@h    | hello\n',
    );
    expect(formatLine(line, 'web.1.x@h', { ...flags, raw: true }, 12)).toBe('hello\n');
  });

  it('parses --tail and --since as docker does, naming the flag on bad input', () => {
    expect(parseTail('all')).toBeUndefined();
    expect(parseTail('0')).toBe(0);
    expect(parseTail('25')).toBe(25);
    for (const bad of ['-1', 'x', '1.5']) {
      const e = (() => {
        try {
          return parseTail(bad);
        } catch (err) {
          return err;
        }
      })();
      expect(isSwarmError(e, 'INVALID_ARGUMENT') && e.details.field).toBe('--tail');
    }
    const now = Date.UTC(2024, 0, 1, 12, 0, 0);
    expect(parseSince('10m', now)).toBe(now - 600_000);
    expect(parseSince('1700000000.5', now)).toBe(1_700_000_000_500);
    expect(parseSince('2024-01-01T11:00:00Z', now)).toBe(now - 3_600_000);
    expect(() => parseSince('yesterday', now)).toThrow(/--since/);
  });
});
