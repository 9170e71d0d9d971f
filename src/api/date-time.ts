/**
 * `DateTime`: ISO-8601 strings out (UTC, milliseconds); ISO-8601 date-times with a zone in.
 */
import { GraphQLError } from 'graphql';
import type { BosunBuilder } from './builder.js';

/** A date-time with a `Z` or `±hh:mm` zone, such as 2025-01-31T12:00:00Z or 2025-01-31T13:00:00.5+01:00. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Parses an ISO-8601 date-time with a zone. @throws GraphQLError for anything else. */
export function parseDateTime(value: unknown): Date {
  if (typeof value === 'string' && ISO_DATE_TIME.test(value)) {
    const date = new Date(value);
    if (Number.isFinite(date.getTime())) return date;
  }
  throw new GraphQLError(`DateTime: expected an ISO-8601 date-time with a zone such as 2025-01-31T12:00:00Z, got ${JSON.stringify(value)}`);
}

/** Renders a Date (or a date string or epoch milliseconds) as an ISO-8601 string. */
export function serializeDateTime(value: unknown): string {
  const date = value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
  if (!date || !Number.isFinite(date.getTime())) {
    throw new GraphQLError(`DateTime cannot represent ${String(value)}`);
  }
  return date.toISOString();
}

export function addDateTimeScalar(builder: BosunBuilder): void {
  builder.scalarType('DateTime', {
    description: 'An instant as an ISO-8601 string, e.g. 2025-01-31T12:00:00.000Z.',
    serialize: (value) => serializeDateTime(value),
    parseValue: (value) => parseDateTime(value),
  });
}
