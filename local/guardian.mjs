/**
 * The guardian of a DynamoDB Local: a tiny process that outlives the broker by a moment, to make
 * sure the JVM does not outlive it at all. Plain JavaScript with no import but Node's own, so it
 * starts in milliseconds, with no loader, and nothing can fail to load in it.
 *
 *   node local/guardian.mjs <pid>…      (spawned by the broker with an IPC channel)
 *
 * - When the IPC channel closes — the broker stopped, crashed, or was killed with SIGKILL (the
 *   kernel closes its end of the pipe whichever way it dies) — the guardian stops every `<pid>`
 *   still alive: SIGTERM, then SIGKILL after a grace period; then it exits.
 * - SIGTERM and SIGHUP (the terminal went away) do the same; SIGINT is ignored: a terminal's Ctrl-C
 *   reaches the broker, which stops DynamoDB Local in order and then this guardian.
 * - It exits by itself once none of the processes is alive any more.
 */
const GRACE_MS = 5_000;
const POLL_MS = 500;

const pids = process.argv.slice(2).map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
if (pids.length === 0) {
  process.stderr.write('guardian: usage: node guardian.mjs <pid>… (spawned with an IPC channel)\n');
  process.exit(2);
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

const signal = (pid, name) => {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
};

let stopping = false;
function stopAll() {
  if (stopping) return;
  stopping = true;
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGTERM');
  const deadline = Date.now() + GRACE_MS;
  setInterval(() => {
    const left = pids.filter(alive);
    if (left.length === 0) process.exit(0);
    if (Date.now() > deadline) {
      for (const pid of left) signal(pid, 'SIGKILL');
      process.exit(0);
    }
  }, 50);
}

// the broker is gone, whichever way: its DynamoDB Local goes too
process.on('disconnect', stopAll);
process.on('SIGTERM', stopAll);
process.on('SIGHUP', stopAll);
process.on('SIGINT', () => {});
// nothing left to guard (the broker stopped DynamoDB Local itself): leave quietly
setInterval(() => {
  if (!stopping && !pids.some(alive)) process.exit(0);
}, POLL_MS);
// the broker died before this line ran (or spawned us without a channel): act at once
if (!process.connected) stopAll();
else process.send({ guarding: pids });
