import { describe, expect, it } from 'vitest';
import { EMF_MAX_DIMENSIONS, EMF_MAX_VALUES, METRICS, METRICS_NAMESPACE, metricFields, metricLines, summarise } from '../../lib/metrics.js';

interface Directive {
  Namespace: string;
  Dimensions: string[][];
  Metrics: { Name: string; Unit: string }[];
}
const directiveOf = (line: Record<string, unknown>) => (line._aws as { CloudWatchMetrics: Directive[] }).CloudWatchMetrics[0]!;

describe('EMF lines (lib/metrics.ts)', () => {
  it('a line names the broker namespace, the catalogue unit and the dimension set, with each value beside it', () => {
    const [line] = metricLines({ RefreshFailedByReason: 3 }, { reason: 'upstream_error' }, 1_700_000_000_000);
    expect(line).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['reason']], Metrics: [{ Name: 'RefreshFailedByReason', Unit: 'Count' }] }],
      },
      reason: 'upstream_error',
      RefreshFailedByReason: 3,
    });
  });

  it('a metric carries at most 100 values in one line: the rest go to further lines', () => {
    const lag = Array.from({ length: 250 }, (_, i) => i);
    const lines = metricLines({ RefreshLag: lag, RefreshSucceeded: 250 });
    expect(lines).toHaveLength(3);
    for (const l of lines) expect((l.RefreshLag as number[]).length).toBeLessThanOrEqual(EMF_MAX_VALUES);
    expect(lines.flatMap((l) => l.RefreshLag as number[])).toEqual(lag);
    // a single value is written once, not once per line
    expect(lines.map((l) => l.RefreshSucceeded)).toEqual([250, undefined, undefined]);
    expect(directiveOf(lines[1]!).Metrics.map((m) => m.Name)).toEqual(['RefreshLag']);
  });

  it('metricFields keeps one line valid: more than 100 values are summarised into 100 order statistics, minimum and maximum kept', () => {
    const lag = Array.from({ length: 10_000 }, (_, i) => 10_000 - i);
    const fields = metricFields({ RefreshLag: { value: lag, unit: 'Seconds' } });
    const values = fields.RefreshLag as number[];
    expect(values).toHaveLength(EMF_MAX_VALUES);
    expect(values[0]).toBe(1);
    expect(values.at(-1)).toBe(10_000);
    // the median of the summary is within 1 % of the true median
    expect(Math.abs(values[50]! - 5_000)).toBeLessThan(100);
  });

  it('summarise leaves 100 values or fewer as they are (sorted)', () => {
    expect(summarise([3, 1, 2])).toEqual([1, 2, 3]);
  });

  it('a dimension set holds at most 30 dimensions (EMF)', () => {
    const dims = Object.fromEntries(Array.from({ length: EMF_MAX_DIMENSIONS + 1 }, (_, i) => [`d${i}`, 'x']));
    expect(() => metricLines({ RefreshFailed: 1 }, dims)).toThrow(/at most 30 dimensions/);
    const ok = Object.fromEntries(Array.from({ length: EMF_MAX_DIMENSIONS }, (_, i) => [`d${i}`, 'x']));
    expect(directiveOf(metricLines({ RefreshFailed: 1 }, ok)[0]!).Dimensions[0]).toHaveLength(30);
  });

  it('nothing to report writes no metric line', () => {
    expect(metricLines({ RefreshLag: [] })).toEqual([]);
  });

  it('every catalogued metric with a dimension names it, and every unit is a CloudWatch unit', () => {
    for (const [name, spec] of Object.entries(METRICS)) {
      expect(['Count', 'Seconds', 'Milliseconds'], name).toContain(spec.unit);
      if ('dimension' in spec) expect(spec.dimension, name).toMatch(/^[a-z]+$/);
    }
  });
});
