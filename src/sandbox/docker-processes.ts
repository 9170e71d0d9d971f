/**
 * Signals to a sandbox container's processes from a command inside it, sparing the container's
 * own two: its init (pid 1, docker-init) and its keep-alive (container-config.ts). Sparing them
 * keeps the container, and with it the tmpfs `/workspace` and `/tmp`, so that a stopped run's
 * files can still be copied out.
 *
 * `kill -1` would spare init and the signalling shell, and the keep-alive ignores TERM, but
 * nothing can ignore KILL: the script finds the keep-alive in /proc and leaves it out. It is the
 * child of init that started first (init forks it before anything else exists; orphans that
 * init adopts later started later), which holds even after pids wrap around. Only shell builtins
 * run (read, kill, case), so the script forks nothing that it would have to spare in turn.
 */
import { execInContainer, type ExecTarget } from './docker-exec.js';
import { SandboxError } from './sandbox-errors.js';

/**
 * Sends `$sig` (TERM or KILL, set by the line before it) to every process but init, the
 * keep-alive, this shell and zombies, and prints how many it signalled. With KILL, each is
 * stopped (SIGSTOP) first, so that none forks between being listed and being killed; a child
 * forked before the STOP is found by the next round. Fields of /proc/<pid>/stat are read after
 * the command name's closing parenthesis (a name may hold spaces): state, ppid, ... starttime.
 */
const SIGNAL_OTHERS_SCRIPT = [
  'self=$$ keep= keepstart=',
  'for d in /proc/[0-9]*; do',
  '  read -r line 2>/dev/null < "$d/stat" || continue',
  '  set -- ${line##*) }',
  '  [ "$2" = 1 ] || continue',
  '  if [ -z "$keep" ] || [ "${20}" -lt "$keepstart" ]; then keep=${d#/proc/} keepstart=${20}; fi',
  'done',
  'pids= count=0',
  'for d in /proc/[0-9]*; do',
  '  p=${d#/proc/}',
  '  case $p in 1|"$self"|"$keep") continue ;; esac',
  '  read -r line 2>/dev/null < "$d/stat" || continue',
  '  set -- ${line##*) }',
  '  [ "$1" = Z ] && continue',
  '  pids="$pids $p" count=$((count + 1))',
  'done',
  'if [ -n "$pids" ]; then',
  '  [ "$sig" = KILL ] && kill -STOP $pids 2>/dev/null',
  '  kill -s "$sig" $pids 2>/dev/null',
  'fi',
  'echo "$count"',
].join('\n');

/** Rounds of KILL at most: a round finds what the one before could not reach yet (a fork, a process still exiting). */
const KILL_ROUNDS = 20;

/**
 * Sends one round of `signalName` to every process of the container but its own two; resolves
 * with how many it signalled.
 * @throws SandboxError when the command cannot run (the container gone, the pids limit reached).
 */
export async function signalOtherProcesses(target: ExecTarget, signalName: 'TERM' | 'KILL'): Promise<number> {
  let output = '';
  let errors = '';
  const { exitCode } = await execInContainer(target, `sig=${signalName}\n${SIGNAL_OTHERS_SCRIPT}`, {
    onOutput: (stream, line) => {
      if (stream === 'stdout') output += line;
      else if (errors.length < 1000) errors += `${line}\n`;
    },
  });
  const count = Number(output.trim());
  if (exitCode !== 0 || output.trim() === '' || !Number.isSafeInteger(count)) {
    throw new SandboxError('DOCKER_ERROR', `could not signal the processes of ${target.name}: ${errors.trim() || `exit code ${exitCode}`}`);
  }
  return count;
}

/**
 * KILL to every process but the container's own two, round after round until a round finds
 * none left (or {@link KILL_ROUNDS} have run).
 * @returns how many processes the last round still found: 0 when none is left.
 */
export async function killOtherProcesses(target: ExecTarget): Promise<number> {
  let left = 0;
  for (let round = 0; round < KILL_ROUNDS; round += 1) {
    left = await signalOtherProcesses(target, 'KILL');
    if (left === 0) return 0;
  }
  return left;
}
