/** The middle value of `values` (the upper middle of an even count): p50 of latencies, median of rounds. */
export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** `n` rounded to `digits` decimal places, as the results are written. */
export const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;
