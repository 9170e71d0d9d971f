/**
 * What an HTML page would load: for checks that a page served by bosun (GraphiQL) loads nothing
 * from another host. The same rules as the server test's check.
 */

/**
 * Every URL the page would fetch: element `src`/`href` (except plain links), CSS `url()` and
 * `@import`, and script loaders (`import()`, `importScripts()`, `new Worker()`, `fetch()`)
 * given a literal absolute URL.
 */
export function loadedReferences(html: string): string[] {
  const found: string[] = [];
  const collect = (pattern: RegExp): void => {
    for (const match of html.matchAll(pattern)) if (match[1] !== undefined) found.push(match[1]);
  };
  collect(/<(?:script|img|iframe|source|embed|link)\b[^>]*?\s(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi);
  collect(/url\(\s*["']?([^"')\s]+)/gi);
  collect(/@import\s+["']([^"']+)/gi);
  collect(/(?:import|importScripts|Worker|fetch)\(\s*["'`](https?:\/\/[^"'`]+)/g);
  return found;
}

/** Whether `reference` (from a page served at `origin`) stays on that origin. */
export function isLocal(reference: string, origin: string): boolean {
  if (/^(?:data|blob):/i.test(reference)) return true;
  if (!/^(?:https?:)?\/\//i.test(reference)) return true; // relative to this server
  return new URL(reference, origin).origin === origin;
}
