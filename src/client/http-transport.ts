/**
 * The client's HTTP side, on `fetch` alone: GraphQL operations POSTed as JSON, uploads as
 * GraphQL multipart requests, and the plain GET routes (archives, artifacts). It adds the bearer
 * token and turns every failure into a {@link BosunClientError} (or the signal's reason).
 */
import { BosunClientError, badResponse, type GraphQLErrorShape } from './errors.js';

/**
 * The header that marks a request a browser could send cross-site (a multipart POST) as not
 * forged; bosun refuses multipart POSTs without it (its value does not matter).
 */
export const CSRF_HEADER = 'x-graphql-csrf';

export interface HttpTransportOptions {
  /** bosun's GraphQL endpoint (`https://host/graphql`); a bare origin (`https://host`) means its `/graphql`. */
  readonly url: string | URL;
  /** BOSUN_API_TOKEN (or BOSUN_READ_TOKEN for reading only); none when bosun runs without tokens. */
  readonly token?: string | undefined;
  /** The fetch to use; default the global one. */
  readonly fetch?: typeof fetch | undefined;
  /** Headers added to every request (e.g. for a proxy in front of bosun). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** A file sent with {@link HttpTransport.upload}. */
export interface UploadFile {
  /** The operation's variable that takes the file (e.g. `archive`). */
  readonly variable: string;
  readonly blob: Blob;
  readonly filename: string;
}

interface GraphQLBody<T> {
  readonly data?: T | null;
  readonly errors?: readonly GraphQLErrorShape[];
}

export class HttpTransport {
  /** The GraphQL endpoint. */
  readonly endpoint: URL;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Readonly<Record<string, string>>;

  constructor(options: HttpTransportOptions) {
    const endpoint = new URL(options.url);
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
      throw new TypeError(`bosun's URL must be http: or https:, got ${endpoint.protocol}`);
    }
    if (endpoint.pathname === '/' || endpoint.pathname === '') endpoint.pathname = '/graphql';
    this.endpoint = endpoint;
    this.token = options.token === undefined || options.token === '' ? undefined : options.token;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = options.headers ?? {};
  }

  /** `Bearer <token>`, or undefined without a token. */
  get authorization(): string | undefined {
    return this.token === undefined ? undefined : `Bearer ${this.token}`;
  }

  /** The graphql-ws URL: the endpoint with ws: / wss:. */
  get webSocketUrl(): string {
    const url = new URL(this.endpoint);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.href;
  }

  /** Posts an operation as JSON and resolves with its data. */
  async request<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const response = await this.send(
      this.endpoint,
      {
        method: 'POST',
        headers: this.withAuth({ 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' }),
        body: JSON.stringify({ query, variables }),
      },
      signal,
    );
    return this.readData<T>(response, signal);
  }

  /**
   * Posts an operation with one file as a GraphQL multipart request
   * (https://github.com/jaydenseric/graphql-multipart-request-spec): the parts `operations`,
   * `map`, then the file; with {@link CSRF_HEADER}, which bosun asks of multipart POSTs.
   */
  async upload<T>(query: string, variables: Record<string, unknown>, file: UploadFile, signal?: AbortSignal): Promise<T> {
    const form = new FormData();
    form.append('operations', JSON.stringify({ query, variables: { ...variables, [file.variable]: null } }));
    form.append('map', JSON.stringify({ 0: [`variables.${file.variable}`] }));
    form.append('0', file.blob, file.filename);
    const response = await this.send(
      this.endpoint,
      { method: 'POST', headers: this.withAuth({ [CSRF_HEADER]: '1', accept: 'application/graphql-response+json, application/json' }), body: form },
      signal,
    );
    return this.readData<T>(response, signal);
  }

  /**
   * GETs a path of the server (relative to its root, e.g. an artifact's `url`) and resolves with
   * the response once it is a 200; its body is the caller's to read or cancel.
   */
  async get(path: string, signal?: AbortSignal): Promise<Response> {
    const response = await this.send(new URL(path, this.endpoint), { method: 'GET', headers: this.withAuth({}) }, signal);
    if (response.status === 200) return response;
    const text = await this.readText(response, signal);
    throw errorOf(response.status, parseJson(text) as GraphQLBody<unknown> | undefined, text);
  }

  private withAuth(headers: Record<string, string>): Record<string, string> {
    const authorization = this.authorization;
    return { ...this.headers, ...headers, ...(authorization === undefined ? {} : { authorization }) };
  }

  private async send(url: URL, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
    signal?.throwIfAborted();
    try {
      return await this.fetchImpl(url, signal === undefined ? init : { ...init, signal });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw networkError(url, error);
    }
  }

  private async readText(response: Response, signal: AbortSignal | undefined): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw networkError(new URL(response.url || this.endpoint.href), error);
    }
  }

  private async readData<T>(response: Response, signal: AbortSignal | undefined): Promise<T> {
    const text = await this.readText(response, signal);
    const body = parseJson(text) as GraphQLBody<T> | undefined;
    if (body === undefined || typeof body !== 'object' || body === null) {
      if (!response.ok) throw errorOf(response.status, undefined, text);
      throw badResponse('a body that is not JSON', response.status);
    }
    if (Array.isArray(body.errors) && body.errors.length > 0) throw errorOf(response.status, body, text);
    if (body.data === undefined || body.data === null) {
      if (!response.ok) throw errorOf(response.status, undefined, text);
      throw badResponse('no data and no errors', response.status);
    }
    return body.data;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function networkError(url: URL, error: unknown): BosunClientError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BosunClientError('NETWORK_ERROR', `could not reach bosun at ${url.origin}: ${detail}`, { cause: error });
}

/** The error of an answer: its first GraphQL error when it has one, else its HTTP status. */
function errorOf(status: number, body: GraphQLBody<unknown> | undefined, text: string): BosunClientError {
  const raw: unknown = body?.errors;
  const errors = Array.isArray(raw) ? (raw as readonly GraphQLErrorShape[]) : [];
  const first = errors[0];
  if (first !== undefined && typeof first.message === 'string') {
    const code = first.extensions?.['code'];
    return new BosunClientError(typeof code === 'string' ? code : status === 401 ? 'UNAUTHENTICATED' : 'HTTP_ERROR', first.message, {
      status,
      errors,
    });
  }
  const excerpt = text.trim().slice(0, 200);
  return new BosunClientError('HTTP_ERROR', `bosun answered HTTP ${status}${excerpt === '' ? '' : `: ${excerpt}`}`, { status });
}
