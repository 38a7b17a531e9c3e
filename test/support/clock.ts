/**
 * A clock the test moves by hand. It starts six hours behind the real clock (whole seconds), so
 * tests that let another process (a worker, a Lambda handler) use the real clock can rely on every
 * token the harness issued looking expired and due there.
 */
export function manualClock(start = Math.floor((Date.now() - 6 * 3600_000) / 1000) * 1000) {
  let now = start;
  const clock = () => now;
  return Object.assign(clock, {
    advance(ms: number) {
      now += ms;
    },
    set(ms: number) {
      now = ms;
    },
  });
}
export type ManualClock = ReturnType<typeof manualClock>;
