/**
 * The throw-away servers of the cluster tests: they answer on loopback, keep their data across a
 * kill -9 and a restart on the same port, and leave nothing behind when stopped.
 */
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startPostgres, startRedis } from './cluster-servers.js';

/** Sends RESP commands to Redis and resolves with the raw reply once `done` accepts it. */
function redis(port: number, commands: string[][], done: (reply: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (done(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.write(commands.map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''));
  });
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('startPostgres', () => {
  it('answers on loopback, keeps committed rows across a kill -9 and a restart, and removes its data when stopped', async () => {
    const server = await startPostgres();
    try {
      expect(server.url).toBe(`postgres://bosun@127.0.0.1:${server.port}/postgres`);
      await query(server.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)');
      await server.kill9();
      await expect(query(server.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
      await server.restart();
      expect(await query(server.url, 'SELECT n FROM kept ORDER BY n')).toEqual([{ n: 1 }, { n: 2 }]);
      await server.halt();
      await server.restart();
      expect(await query(server.url, 'SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 2 }]);
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
  });
});

describe('startRedis', () => {
  it('answers on loopback, keeps acknowledged writes across a kill -9 and a restart, and removes its data when stopped', async () => {
    const server = await startRedis();
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      await redis(
        server.port,
        [
          ['SET', 'k', 'v'],
          ['RPUSH', 'line', 'a', 'b'],
        ],
        (reply) => reply === '+OK\r\n:2\r\n',
      );
      await server.kill9();
      await server.restart();
      const reply = await redis(
        server.port,
        [
          ['GET', 'k'],
          ['LRANGE', 'line', '0', '-1'],
        ],
        (r) => r.endsWith('$1\r\nb\r\n'),
      );
      expect(reply).toBe('$1\r\nv\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n');
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
  });
});
