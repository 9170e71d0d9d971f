/**
 * GraphQL multipart requests (https://github.com/jaydenseric/graphql-multipart-request-spec),
 * read as a stream. Yoga's own parser keeps every uploaded file in memory, whole; this one:
 * - reads the `operations` and `map` parts first (each at most {@link MAX_REQUEST_BYTES}, the
 *   spec's order, which lets the files stream), and decides from `operations` how large the
 *   request may be: an `uploadArchive` mutation (and nothing else) may carry one file of up to
 *   UPLOAD_MAX_BYTES; any other operation keeps the 1 MiB limit of every request;
 * - counts the body as it arrives and refuses it with HTTP 413 the moment it passes its limit;
 * - writes the file to a spool file on disk (never memory) and hands the operation a file-backed
 *   Blob, which the spool's owner deletes once the response is over;
 * - takes at most {@link MAX_SPOOLED_UPLOADS} uploads at once, all callers together (503 past
 *   them), so that uploads cannot fill the disk.
 */
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Busboy, type BusboyFileStream } from '@fastify/busboy';
import { GraphQLError, Kind, OperationTypeNode, getOperationAST, parse } from 'graphql';
import { MAX_REQUEST_BYTES, QUERY_LIMITS } from './server-limits.js';

/** Uploads being received at once, all callers together. */
export const MAX_SPOOLED_UPLOADS = 4;
/** The one mutation whose requests may be larger than {@link MAX_REQUEST_BYTES}. */
export const UPLOAD_FIELD = 'uploadArchive';

/** What yoga executes: the GraphQL parameters. */
export interface GraphQLParams {
  query?: string;
  operationName?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

export function httpError(status: number, code: string, message: string, headers?: Record<string, string>): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status, ...(headers ? { headers } : {}) } } });
}

/** The refusal of a body past its limit; the connection is closed after it (the rest of the body is not read). */
export const requestTooLarge = (limitBytes: number): GraphQLError =>
  httpError(413, 'REQUEST_ENTITY_TOO_LARGE', `Request body too large (at most ${limitBytes} bytes for this request)`, { connection: 'close' });

/**
 * Whether `operations` (the parsed first part) is one `uploadArchive` mutation: one operation
 * (or the one named), a mutation, whose root fields are all `uploadArchive`. Parsed with
 * graphql-armor's token limit, so that a huge document costs no more here than it would later.
 */
export function isUploadOperation(operations: unknown): boolean {
  if (typeof operations !== 'object' || operations === null || Array.isArray(operations)) return false;
  const { query, operationName } = operations as { query?: unknown; operationName?: unknown };
  if (typeof query !== 'string') return false;
  try {
    const document = parse(query, { maxTokens: QUERY_LIMITS.maxTokens });
    const operation = getOperationAST(document, typeof operationName === 'string' ? operationName : undefined);
    if (operation?.operation !== OperationTypeNode.MUTATION) return false;
    const selections = operation.selectionSet.selections;
    return selections.length > 0 && selections.every((selection) => selection.kind === Kind.FIELD && selection.name.value === UPLOAD_FIELD);
  } catch {
    return false;
  }
}

/** The spool of uploads on disk: one directory, created at the first upload, removed by {@link dispose}. */
export class UploadSpool implements AsyncDisposable {
  private dir: Promise<string> | undefined;
  private active = 0;
  private sequence = 0;

  constructor(readonly uploadMaxBytes: number) {}

  /** Uploads being received or held now. */
  get uploads(): number {
    return this.active;
  }

  /**
   * Reads a multipart request into GraphQL parameters, its file (if any) spooled to disk.
   * @param onDone registers what to do once the response is over (delete the spool file).
   * @throws GraphQLError with an HTTP status: 413 past the limits, 400 for a malformed request,
   *   503 when {@link MAX_SPOOLED_UPLOADS} uploads are in progress.
   */
  async parse(request: IncomingMessage, onDone: (cleanup: () => void) => void): Promise<GraphQLParams> {
    let limitBytes = MAX_REQUEST_BYTES;
    let receivedBytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        receivedBytes += chunk.length;
        if (receivedBytes > limitBytes) callback(requestTooLarge(limitBytes));
        else callback(null, chunk);
      },
    });
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_REQUEST_BYTES + this.uploadMaxBytes)
      throw requestTooLarge(MAX_REQUEST_BYTES + this.uploadMaxBytes);

    let operations: unknown;
    let map: Record<string, unknown> | undefined;
    let upload: { readonly field: string; readonly path: string } | undefined;
    let spooling: Promise<void> | undefined;
    let holdsSlot = false;
    const release = (): void => {
      if (!holdsSlot) return;
      holdsSlot = false;
      this.active -= 1;
    };

    let busboy: InstanceType<typeof Busboy>;
    try {
      busboy = new Busboy({
        headers: request.headers as { 'content-type': string },
        limits: { fieldSize: MAX_REQUEST_BYTES, fields: 2, files: 1, parts: 3, fileSize: this.uploadMaxBytes },
      });
    } catch (error) {
      throw httpError(400, 'BAD_REQUEST', `Malformed multipart request: ${(error as Error).message}`);
    }
    let fileStream: BusboyFileStream | undefined;
    const failed = (error: unknown): void => {
      const reason = error instanceof Error ? error : new Error(String(error));
      fileStream?.destroy(reason);
      busboy.destroy(reason);
    };
    const tooMany = (): void => failed(httpError(400, 'BAD_REQUEST', 'A multipart request has the parts "operations", "map" and at most one file'));
    busboy.on('partsLimit', tooMany);
    busboy.on('filesLimit', tooMany);
    busboy.on('fieldsLimit', tooMany);
    busboy.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) return failed(requestTooLarge(MAX_REQUEST_BYTES));
      if (name === 'operations' && operations === undefined) {
        try {
          operations = JSON.parse(value);
        } catch {
          return failed(httpError(400, 'BAD_REQUEST', 'Multipart form field "operations" must be a valid JSON string'));
        }
        if (isUploadOperation(operations)) limitBytes = MAX_REQUEST_BYTES + this.uploadMaxBytes;
      } else if (name === 'map' && operations !== undefined && map === undefined) {
        try {
          const parsed: unknown = JSON.parse(value);
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
          map = parsed as Record<string, unknown>;
        } catch {
          return failed(httpError(400, 'BAD_REQUEST', 'Multipart form field "map" must be a JSON object'));
        }
      } else {
        return failed(
          httpError(400, 'BAD_REQUEST', `Unexpected multipart field ${JSON.stringify(name)}: expected "operations", then "map", then the files`),
        );
      }
    });
    busboy.on('file', (name: string, stream: BusboyFileStream) => {
      if (operations === undefined || map === undefined) {
        stream.resume();
        return failed(httpError(400, 'BAD_REQUEST', 'The "operations" and "map" parts must come before the files'));
      }
      if (!Object.hasOwn(map, name)) {
        stream.resume();
        return failed(httpError(400, 'BAD_REQUEST', `The file part ${JSON.stringify(name)} is not in "map"`));
      }
      if (this.active >= MAX_SPOOLED_UPLOADS) {
        stream.resume();
        return failed(
          httpError(503, 'RATE_LIMITED', `${MAX_SPOOLED_UPLOADS} uploads are in progress, the most bosun takes at once; try again shortly`, {
            'retry-after': '5',
          }),
        );
      }
      this.active += 1;
      holdsSlot = true;
      fileStream = stream;
      const spoolPath = this.nextPath();
      spooling = (async () => {
        const path = await spoolPath;
        upload = { field: name, path };
        stream.once('limit', () => failed(requestTooLarge(this.uploadMaxBytes)));
        await pipeline(stream, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
        if (stream.truncated) throw requestTooLarge(this.uploadMaxBytes);
      })();
      spooling.catch(failed);
    });

    onDone(() => {
      release();
      if (upload) void rm(upload.path, { force: true });
    });
    // Not pipeline(request, ...): a refusal must not destroy the request's socket, or the 413
    // could not be sent. The rest of the body is then left unread (the refusal closes the connection).
    const parsed = pipeline(counter, busboy);
    const onClose = (): void => {
      if (!request.complete) counter.destroy(new Error('the client went away'));
    };
    request.once('close', onClose);
    request.pipe(counter);
    try {
      await parsed;
      await spooling;
    } catch (error) {
      request.unpipe(counter);
      fileStream?.destroy();
      const refusal = error instanceof GraphQLError ? error : (error as { cause?: unknown }).cause;
      if (refusal instanceof GraphQLError) throw refusal;
      throw httpError(400, 'BAD_REQUEST', `Malformed multipart request: ${(error as Error).message}`, { connection: 'close' });
    } finally {
      request.off('close', onClose);
    }
    if (operations === undefined) throw httpError(400, 'BAD_REQUEST', 'Missing multipart form field "operations"');
    if (typeof operations !== 'object' || operations === null || Array.isArray(operations)) {
      throw httpError(400, 'BAD_REQUEST', 'Multipart form field "operations" must be one operation (an object)');
    }
    const params = operations as Record<string, unknown>;
    if (upload !== undefined) {
      const blob = await openAsBlob(upload.path);
      for (const key of mapKeys(map?.[upload.field])) setPath(params, key, blob);
    }
    return params;
  }

  /** Removes the spool directory and whatever is left in it. */
  async [Symbol.asyncDispose](): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    if (dir) await rm(await dir, { recursive: true, force: true }).catch(() => undefined);
  }

  private nextPath(): Promise<string> {
    this.dir ??= mkdtemp(join(tmpdir(), 'bosun-uploads-'));
    this.sequence += 1;
    const sequence = this.sequence;
    return this.dir.then((dir) => join(dir, `upload-${sequence}`));
  }
}

function mapKeys(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((key) => typeof key === 'string')) {
    throw httpError(400, 'BAD_REQUEST', 'Each entry of "map" must be a list of object paths, e.g. ["variables.archive"]');
  }
  return value;
}

/** Sets `value` at a dotted path of `target` (`variables.archive`), as the spec's `map` names it. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let current: Record<string, unknown> = target;
  for (const [index, key] of keys.entries()) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return;
    if (index === keys.length - 1) {
      current[key] = value;
      return;
    }
    const next = current[key];
    if (typeof next !== 'object' || next === null) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
}
