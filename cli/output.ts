/**
 * Output for people and for scripts. Tables are plain aligned columns (as kubectl prints them):
 * they read well, paste into tickets, and stay greppable and `awk`-able; `--json` prints the
 * broker's own JSON for anything else. Progress goes to stderr, and only on a terminal.
 */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** stdout is a terminal (QR codes, colour-free tables either way). */
  outIsTty: boolean;
  errIsTty: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  outIsTty: Boolean(process.stdout.isTTY),
  errIsTty: Boolean(process.stderr.isTTY),
};

/** Aligned columns with a header row; an empty list says so instead of printing a bare header. */
export function table(headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `${empty}\n`;
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `key  value` lines, keys aligned. */
export function facts(pairs: [string, string | undefined][]): string {
  const shown = pairs.filter((p): p is [string, string] => p[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

export const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';

/** A progress line on a terminal's stderr, rewritten in place; `done()` clears it. */
export function progress(io: Io, label: string): { update(n: number): void; done(): void } {
  if (!io.errIsTty) return { update() {}, done() {} };
  io.err(`${label}…`);
  return {
    update: (n) => io.err(`\r${label}… ${n.toLocaleString()}`),
    done: () => io.err('\r\x1b[2K'),
  };
}
