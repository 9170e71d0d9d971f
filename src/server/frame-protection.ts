/**
 * No page of bosun may be framed by another site: a framed GraphiQL or dashboard, made invisible
 * over a page that asks for clicks, would run the operator's clicks against bosun
 * (clickjacking). Every HTML response — GraphiQL's page at GET /graphql, the dashboard at / —
 * gets `frame-ancestors 'none'` in its Content-Security-Policy (merged into the policy it has)
 * and `X-Frame-Options: DENY`.
 */
import type { Plugin } from 'graphql-yoga';
import { FRAME_DENY_HEADERS, withFrameAncestorsNone } from '../dashboard/security-headers.js';

/** The yoga plugin; it sees every response, including those that other plugins answered early. */
export function useFrameProtection(): Plugin {
  return {
    onResponse({ response }) {
      const contentType = response.headers.get('content-type') ?? '';
      if (!/^\s*text\/html\b/i.test(contentType)) return;
      response.headers.set('content-security-policy', withFrameAncestorsNone(response.headers.get('content-security-policy')));
      for (const [name, value] of Object.entries(FRAME_DENY_HEADERS)) response.headers.set(name, value);
    },
  };
}
