import { describe, expect, it } from 'vitest';
import { parseDateTime, serializeDateTime } from '../../src/api/date-time.js';

describe('DateTime', () => {
  it('serializes instants as ISO-8601 UTC strings', () => {
    expect(serializeDateTime(new Date('2025-01-31T13:00:00+01:00'))).toBe('2025-01-31T12:00:00.000Z');
    expect(serializeDateTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(() => serializeDateTime(new Date('nope'))).toThrow(/cannot represent/);
    expect(() => serializeDateTime({})).toThrow(/cannot represent/);
  });

  it('parses ISO-8601 date-times with a zone', () => {
    expect(parseDateTime('2025-01-31T12:00:00Z').toISOString()).toBe('2025-01-31T12:00:00.000Z');
    expect(parseDateTime('2025-01-31T13:00:00.5+01:00').toISOString()).toBe('2025-01-31T12:00:00.500Z');
    expect(parseDateTime('2025-01-31T12:00Z').toISOString()).toBe('2025-01-31T12:00:00.000Z');
  });

  it.each(['2025-01-31', '2025-01-31T12:00:00', 'yesterday', '2025-13-40T99:00:00Z', 1738324800000])('refuses %s', (value) => {
    expect(() => parseDateTime(value)).toThrow(/expected an ISO-8601 date-time with a zone/);
  });
});
