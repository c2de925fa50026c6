import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { bytesSize, goTime, humanDuration, stateSince } from './human.js';
import {
  capitalizeFirst,
  ellipsis,
  naturalCompare,
  parseListFormat,
  renderInspectJson,
  renderJsonLines,
  renderTable,
  truncateId,
} from './table.js';

describe('renderTable (docker tabwriter: minwidth 10, padding 3)', () => {
  it('pads every column but the last to its widest cell + 3, at least 10', () => {
    expect(
      renderTable(
        ['ID', 'NAME', 'LAST'],
        [
          ['a', 'a-rather-long-name', 'x'],
          ['bbbbbbbbbb', 'b', ''],
        ],
      ),
    ).toBe(
      [
        'ID           NAME                 LAST',
        'a            a-rather-long-name   x',
        'bbbbbbbbbb   b                    ',
        '',
      ].join('\n'),
    );
  });

  it('prints only the header for an empty list', () => {
    expect(renderTable(['ID', 'NAME'], [])).toBe('ID        NAME\n');
  });

  it('counts characters, not bytes', () => {
    expect(renderTable(['É', 'X'], [['ééé', 'y']])).toBe('É         X\nééé       y\n');
  });
});

describe('formatting helpers', () => {
  it.each([
    ['abcdefghijklmnopqrstuvwxy', 'abcdefghijkl'],
    ['short', 'short'],
  ])('truncateId(%s)', (id, out) => {
    expect(truncateId(id)).toBe(out);
  });

  it.each([
    ['no suitable node (1 node not available)', 30, 'no suitable node (1 node not …'],
    ['exactly ten', 11, 'exactly ten'],
    ['', 30, ''],
  ])('ellipsis(%j, %i)', (text, max, out) => {
    expect(ellipsis(text, max)).toBe(out);
  });

  it.each([
    ['running', 'Running'],
    ['READY', 'Ready'],
    ['x', 'x'],
    ['', ''],
  ])('capitalizeFirst(%j)', (text, out) => {
    expect(capitalizeFirst(text)).toBe(out);
  });

  it('sorts naturally', () => {
    expect(
      ['web.10', 'web.2', 'web.1', 'api', 'web.1a', 'node-10-foo', 'node-2-foo'].sort(naturalCompare),
    ).toEqual(['api', 'node-2-foo', 'node-10-foo', 'web.1', 'web.1a', 'web.2', 'web.10']);
  });

  it.each([
    [undefined, 'table'],
    ['', 'table'],
    ['table', 'table'],
    ['json', 'json'],
  ])('parseListFormat(%j)', (input, out) => {
    expect(parseListFormat(input)).toBe(out);
  });

  it('refuses Go templates', () => {
    try {
      parseListFormat('{{.ID}}');
      expect.unreachable();
    } catch (e) {
      expect(isSwarmError(e, 'INVALID_ARGUMENT') && [e.details.field, e.message]).toEqual([
        '--format',
        'invalid argument "{{.ID}}" for "--format" flag: only "table" and "json" are supported',
      ]);
    }
  });

  it('renders JSON lines and inspect arrays', () => {
    expect(renderJsonLines([{ ID: 'a' }, { ID: 'b' }])).toBe('{"ID":"a"}\n{"ID":"b"}\n');
    expect(renderInspectJson([{ a: 1 }])).toBe('[\n    {\n        "a": 1\n    }\n]\n');
  });
});

describe('human durations (docker go-units)', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  it.each([
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1 * s, '1 second'],
    [5 * s + 900, '5 seconds'],
    [59 * s, '59 seconds'],
    [60 * s, 'About a minute'],
    [119 * s, 'About a minute'],
    [2 * m, '2 minutes'],
    [59 * m, '59 minutes'],
    [60 * m, 'About an hour'],
    [89 * m, 'About an hour'],
    [90 * m, '2 hours'],
    [47 * h, '47 hours'],
    [48 * h, '2 days'],
    [13 * d, '13 days'],
    [14 * d, '2 weeks'],
    [59 * d, '8 weeks'],
    [60 * d, '2 months'],
    [729 * d, '24 months'],
    [730 * d, '2 years'],
  ])('%i ms → %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it.each([
    ['running', 5000, 'Running 5 seconds ago'],
    ['pending', 200, 'Pending less than a second ago'],
    ['failed', 2 * h, 'Failed 2 hours ago'],
    ['shutdown', 61 * s, 'Shutdown about a minute ago'],
    ['running', -3000, 'Running less than a second ago'],
  ])('stateSince(%s, %i)', (state, age, text) => {
    expect(stateSince(state, 1_000_000 - age, 1_000_000)).toBe(text);
  });

  it.each([
    [0, '0B'],
    [512, '512B'],
    [1024, '1KiB'],
    [10 * 1024 ** 2, '10MiB'],
    [1.5 * 1024 ** 3, '1.5GiB'],
    [123456789, '117.7MiB'],
  ])('bytesSize(%i) = %s', (n, text) => {
    expect(bytesSize(n)).toBe(text);
  });

  it.each([
    [Date.UTC(2009, 10, 10, 23, 0, 0), '2009-11-10 23:00:00 +0000 utc'],
    [Date.UTC(2026, 0, 2, 3, 4, 5, 120), '2026-01-02 03:04:05.12 +0000 utc'],
  ])('goTime(%i) = %s', (ms, text) => {
    expect(goTime(ms)).toBe(text);
  });
});
