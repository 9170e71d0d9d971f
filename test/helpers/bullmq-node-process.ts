/**
 * One cluster node in a child process, for the dead-node test: `node --import tsx
 * test/helpers/bullmq-node-process.ts <redisUrl> <queueName> <nodeName> <leaseMs>`. Its tasks never settle; it
 * prints `ready` once it has joined and `started <id>` as each task starts, and waits to be killed.
 */
import { BullMqExecutionQueue } from '../../src/queue/bullmq-execution-queue.js';

const [redisUrl = '', queueName = 'runs', nodeName = 'child', leaseMs = '1000'] = process.argv.slice(2);
await BullMqExecutionQueue.open({
  redisUrl,
  queueName,
  nodeName,
  nodeMaxConcurrency: 1,
  maxConcurrency: 0,
  maxQueueLength: 100,
  queueTimeoutMs: 600_000,
  leaseMs: Number(leaseMs),
  runTask: (id) => {
    process.stdout.write(`started ${id}\n`);
    return new Promise<void>(() => undefined);
  },
});
process.stdout.write('ready\n');
