import { vi } from 'vitest';

/**
 * Collects the JSON log lines the Lambda logger writes to stdout into `into` (keeping them out of
 * the test output); anything else still reaches the terminal. Undone by `vi.restoreAllMocks()`.
 */
export function captureJsonLogLines(into: string[]): void {
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.startsWith('{"time"')) {
      into.push(text);
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
}
