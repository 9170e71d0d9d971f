/**
 * A process with bosun's process guard installed as src/main.ts installs it, and one real fault
 * of the kind named by its argument: `rejection` (a background promise that rejects with
 * nobody to handle it) or `exception` (a timer callback that throws). It prints the guard's log
 * lines as JSON, then `still alive` and exits 0 if it survived; `onFatal` exits 3.
 * Run by test/process-guard.test.ts as `node --import tsx test/helpers/guarded-process.ts <fault>`.
 */
import { installProcessGuard } from '../../src/process-guard.js';

const fault = process.argv[2];
const print = (line: string) => process.stdout.write(`${line}\n`);

installProcessGuard(process, {
  logger: {
    error: (fields: { err?: unknown }, msg?: string) => {
      print(JSON.stringify({ msg, stack: fields.err instanceof Error ? fields.err.stack : String(fields.err) }));
      // The next turn of the event loop comes after Node has finished with the fault.
      setTimeout(() => {
        print('still alive');
        process.exit(0);
      }, 0);
    },
  },
  onFatal: () => process.exit(3),
  exitNow: () => process.exit(4),
});

async function backgroundFlush(): Promise<void> {
  await Promise.resolve();
  throw new Error('background flush failed');
}

if (fault === 'rejection') {
  setTimeout(() => void backgroundFlush(), 0);
} else if (fault === 'exception') {
  setTimeout(() => {
    throw new Error('a timer callback threw');
  }, 0);
} else {
  print(`unknown fault ${String(fault)}`);
  process.exit(2);
}
