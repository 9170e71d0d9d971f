/**
 * A container's live Docker stats as an async iterable of {@link ResourceStats}.
 * One HTTP stream per call. It ends when the container stops, and it is destroyed when the
 * consumer stops or the signal aborts, because Docker's stream does not end by itself.
 */
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { LineSplitter } from './line-splitter.js';
import { computeResourceStats, type DockerStatsFrame, type ResourceStats } from './resource-stats.js';
import { dockerCall } from './docker-call.js';
import { toSandboxError } from './sandbox-errors.js';

const DEFAULT_CALL_TIMEOUT_MS = 30_000;

export async function* streamContainerStats(
  docker: Docker,
  containerId: string,
  signal: AbortSignal,
  openTimeoutMs = DEFAULT_CALL_TIMEOUT_MS,
): AsyncGenerator<ResourceStats, void, undefined> {
  if (signal.aborted) return;
  let stream: Readable;
  try {
    stream = (await dockerCall(
      `open the stats stream of ${containerId.slice(0, 12)}`,
      openTimeoutMs,
      (callSignal) => docker.getContainer(containerId).stats({ stream: true, abortSignal: callSignal } as { stream: true }),
      signal,
    )) as unknown as Readable;
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
  if (signal.aborted) {
    stream.destroy();
    return;
  }
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  const frames: DockerStatsFrame[] = [];
  const splitter = new LineSplitter((line) => {
    if (line.trim() !== '') frames.push(JSON.parse(line) as DockerStatsFrame);
  }, 1024 * 1024);
  try {
    for await (const chunk of stream) {
      splitter.write(chunk as Buffer);
      while (frames.length > 0) {
        const frame = frames.shift()!;
        // Docker keeps streaming zeroed frames after the container stopped: the stream is over.
        if (frame.read !== undefined && frame.read.startsWith('0001-01-01')) return;
        yield computeResourceStats(frame);
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    throw toSandboxError(error, `read the stats stream of ${containerId.slice(0, 12)}`);
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}
