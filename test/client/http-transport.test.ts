/**
 * The client's HTTP side against a plain local HTTP server: what it sends (token, JSON, the
 * multipart request with the CSRF header) and how every kind of failure comes back typed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BosunClientError } from '../../src/client/errors.js';
import { CSRF_HEADER, HttpTransport } from '../../src/client/http-transport.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server answering every request with `answer`; resolves with its origin and what it saw. */
async function serve(answer: (request: Seen, response: ServerResponse) => void): Promise<{ origin: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const record = { method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(record);
      answer(record, response);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
};

async function failure(promise: Promise<unknown>): Promise<BosunClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BosunClientError);
  return error as BosunClientError;
}

describe('HttpTransport', () => {
  it('posts JSON to /graphql of a bare origin, with the bearer token, and resolves with the data', async () => {
    const { origin, seen } = await serve((_request, response) => json(response, 200, { data: { hello: 'world' } }));
    const transport = new HttpTransport({ url: origin, token: 's3cret' });
    expect(transport.endpoint.href).toBe(`${origin}/graphql`);
    expect(transport.webSocketUrl).toBe(`${origin.replace('http:', 'ws:')}/graphql`);
    expect(await transport.request('query { hello }', { a: 1 })).toEqual({ hello: 'world' });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/graphql', body: JSON.stringify({ query: 'query { hello }', variables: { a: 1 } }) });
    expect(seen[0]!.headers['authorization']).toBe('Bearer s3cret');
    expect(seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('sends no authorization without a token', async () => {
    const { origin, seen } = await serve((_request, response) => json(response, 200, { data: {} }));
    await new HttpTransport({ url: `${origin}/graphql` }).request('{ a }', {});
    expect(seen[0]!.headers['authorization']).toBeUndefined();
  });

  it("turns the server's first error into the error, with its code, field, status and all errors", async () => {
    const errors = [
      { message: 'path: must be inside /workspace or /tmp', extensions: { code: 'BAD_USER_INPUT', field: 'path' } },
      { message: 'second' },
    ];
    const { origin } = await serve((_request, response) => json(response, 200, { data: null, errors }));
    const error = await failure(new HttpTransport({ url: origin }).request('{ a }', {}));
    expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'path', status: 200, message: errors[0]!.message });
    expect(error.errors).toEqual(errors);
  });

  it('an HTTP error without a GraphQL body is HTTP_ERROR; a 200 that is not GraphQL is BAD_RESPONSE', async () => {
    let status = 502;
    const { origin } = await serve((_request, response) => {
      response.writeHead(status, { 'content-type': 'text/html' });
      response.end('<h1>Bad gateway</h1>');
    });
    const transport = new HttpTransport({ url: origin });
    expect(await failure(transport.request('{ a }', {}))).toMatchObject({ code: 'HTTP_ERROR', status: 502 });
    status = 200;
    expect(await failure(transport.request('{ a }', {}))).toMatchObject({ code: 'BAD_RESPONSE', status: 200 });
  });

  it('a 401 without a code is UNAUTHENTICATED', async () => {
    const { origin } = await serve((_request, response) => json(response, 401, { errors: [{ message: 'no token' }] }));
    expect(await failure(new HttpTransport({ url: origin }).request('{ a }', {}))).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('a server that cannot be reached is NETWORK_ERROR', async () => {
    const { origin } = await serve(() => undefined);
    server!.close();
    server!.closeAllConnections();
    server = undefined;
    expect(await failure(new HttpTransport({ url: origin }).request('{ a }', {}))).toMatchObject({ code: 'NETWORK_ERROR' });
  });

  it('an aborted call rejects with the signal’s reason, before and during the request', async () => {
    const { origin } = await serve(() => undefined); // never answers
    const transport = new HttpTransport({ url: origin });
    const before = new AbortController();
    const reason = new Error('gone');
    before.abort(reason);
    await expect(transport.request('{ a }', {}, before.signal)).rejects.toBe(reason);
    const during = new AbortController();
    const pending = transport.request('{ a }', {}, during.signal);
    during.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('uploads as a GraphQL multipart request, with the CSRF header', async () => {
    const { origin, seen } = await serve((_request, response) => json(response, 200, { data: { uploadArchive: [] } }));
    const data = await new HttpTransport({ url: origin }).upload(
      'mutation ($archive: File!) { uploadArchive(agentId: "r", archive: $archive) { path } }',
      { id: 'r' },
      { variable: 'archive', blob: new Blob(['tar bytes']), filename: 'archive.tar.gz' },
    );
    expect(data).toEqual({ uploadArchive: [] });
    const request = seen[0]!;
    expect(request.headers[CSRF_HEADER]).toBe('1');
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const parts = request.body.split(/--[^\r\n]+\r\n/).filter((part) => part.includes('name='));
    expect(parts.map((part) => /name="([^"]+)"/.exec(part)![1])).toEqual(['operations', 'map', '0']);
    expect(JSON.parse(parts[0]!.split('\r\n\r\n')[1]!.trim())).toEqual({
      query: 'mutation ($archive: File!) { uploadArchive(agentId: "r", archive: $archive) { path } }',
      variables: { id: 'r', archive: null },
    });
    expect(JSON.parse(parts[1]!.split('\r\n\r\n')[1]!.trim())).toEqual({ 0: ['variables.archive'] });
    expect(parts[2]).toContain('filename="archive.tar.gz"');
    expect(parts[2]).toContain('tar bytes');
  });

  it('GETs a path of the server root; an error answer is typed from its JSON body', async () => {
    const { origin, seen } = await serve((request, response) => {
      if (request.url.startsWith('/runs/r1/artifacts/')) {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end('bytes');
      } else json(response, 409, { errors: [{ message: 'run r1 has finished', extensions: { code: 'INVALID_STATE' } }] });
    });
    const transport = new HttpTransport({ url: `${origin}/graphql`, token: 't' });
    expect(await (await transport.get('/runs/r1/artifacts/workspace/out/a')).text()).toBe('bytes');
    expect(seen[0]!.headers['authorization']).toBe('Bearer t');
    expect(await failure(transport.get('/runs/r1/archive?path=/workspace'))).toMatchObject({ code: 'INVALID_STATE', status: 409 });
  });

  it('takes only http and https URLs', () => {
    expect(() => new HttpTransport({ url: 'ftp://example.com/graphql' })).toThrow(/http: or https:/);
  });
});
