/** Times as an operator reads them: a relative phrase first, the exact local time on hover. */

const UNITS: [number, string][] = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
];

/** `in 23 min`, `4 h ago`, `now`. */
export function relative(at: number, now: number): string {
  const delta = at - now;
  const abs = Math.abs(delta);
  if (abs < 1000) return 'now';
  const [unit, name] = UNITS.find(([u]) => abs >= u) ?? UNITS[UNITS.length - 1]!;
  const n = Math.floor(abs / unit);
  // two units when the first is coarse (1 h 20 min reads better than 1 h)
  const rest = unit > 60_000 ? Math.floor((abs - n * unit) / (unit === 86_400_000 ? 3_600_000 : 60_000)) : 0;
  const restName = unit === 86_400_000 ? 'h' : 'min';
  const text = rest && n < 10 ? `${n} ${name} ${rest} ${restName}` : `${n} ${name}`;
  return delta > 0 ? `in ${text}` : `${text} ago`;
}

/** `2026-01-02 14:05:07` in the operator's time zone. */
export function exact(at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** `14:05`, local time. */
export function clockTime(at: number): string {
  const d = new Date(at);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
