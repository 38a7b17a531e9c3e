/** A clock the test moves by hand. */
export function manualClock(start = Date.parse('2026-11-25T12:00:00Z')) {
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
