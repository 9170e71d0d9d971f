/**
 * The body limit bosun enforces on the node request (yoga's own is off): bodies with a
 * Content-Length pass untouched up to the limit, chunked bodies are read and handed to yoga read.
 * (Past the limit, 413 either way: test/hardening/limits.test.ts.)
 */
import { Agent, request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES } from '../../src/server/server-limits.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';
import type { FakeServices } from '../helpers/fake-services.js';

let test: TestServer<FakeServices> | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

/** POSTs `chunks` to the GraphQL endpoint as a chunked body (no Content-Length). */
function postChunked(url: string, chunks: readonly string[], contentType = 'application/json'): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': contentType, 'transfer-encoding': 'chunked' },
        agent: new Agent(),
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

describe('the request body limit', () => {
  it('hands a chunked body under the limit to yoga, whole', async () => {
    test = await startTestServer();
    const query = JSON.stringify({ query: '{ queueStatus { maxConcurrency } }', variables: { pad: 'x'.repeat(200_000) } });
    const chunks = [query.slice(0, 10), query.slice(10, 150_000), query.slice(150_000)];
    expect(await postChunked(test.url, chunks)).toEqual({ status: 200, body: JSON.stringify({ data: { queueStatus: { maxConcurrency: 1 } } }) });
  });

  it('answers an empty chunked body with 400', async () => {
    test = await startTestServer();
    const { status, body } = await postChunked(test.url, []);
    expect(status).toBe(400);
    expect(JSON.parse(body)).toEqual({ errors: [{ message: 'The request body is empty.', extensions: { code: 'BAD_REQUEST' } }] });
  });

  it('takes a body of exactly the limit by its Content-Length', async () => {
    test = await startTestServer();
    const head = '{"query":"{ queueStatus { queued } }","variables":{"pad":"';
    const tail = '"}}';
    const body = head + 'x'.repeat(MAX_REQUEST_BYTES - head.length - tail.length) + tail;
    expect(Buffer.byteLength(body)).toBe(MAX_REQUEST_BYTES);
    const response = await fetch(test.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { queueStatus: { queued: 0 } } });
  });
});
