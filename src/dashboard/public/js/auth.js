/**
 * The API token, when bosun requires one (BOSUN_API_TOKEN / BOSUN_READ_TOKEN). The page asks for
 * it once, when the server first refuses a request (HTTP 401, or WebSocket close 4403), keeps it
 * in the browser session (sessionStorage, under the same key as GraphiQL, so one answer serves
 * both), and sends it as `Authorization: Bearer …` and as graphql-ws `connectionParams`.
 */

const KEY = 'bosun.token';
/** The WebSocket close code of a refused token. */
export const FORBIDDEN_CLOSE_CODE = 4403;

/** The token kept for this session, or null. */
export function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** Headers that carry the token, if there is one. */
export function authorizationHeaders() {
  const token = storedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * The server refused `usedToken`: forget it and ask for another, unless a newer one was entered
 * meanwhile (another request may have asked already). Resolves with the token to retry with, or
 * null when the person gave none.
 * @param {string | null} usedToken
 * @returns {string | null}
 */
export function replaceRefusedToken(usedToken) {
  const current = storedToken();
  if (current && current !== usedToken) return current;
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (a private window, say): there is nothing kept to forget.
  }
  const entered = window.prompt('bosun requires a token (BOSUN_API_TOKEN, or BOSUN_READ_TOKEN to only watch). It is kept for this browser session.');
  const token = (entered ?? '').trim().replace(/^Bearer\s+/i, '');
  if (!token) return null;
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // Storage refused: the token still serves this retry; the page asks again after a reload.
  }
  return token;
}
