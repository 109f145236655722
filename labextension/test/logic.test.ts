// The MLOps panel's decisions, without a page (src/logic.ts).
import {
  RunRow,
  activeLabel,
  compareCode,
  diffCode,
  experimentFilter,
  formatDuration,
  formatValue,
  metricColumns,
  pageLabel,
  panelPath,
  quoteArg,
  refreshDelay,
  requestPath,
  shortTime,
  turnPage
} from '../src/logic';

function run(name: string, metrics: Record<string, unknown> = {}): RunRow {
  return { run_id: name, name, status: 'finished', metrics };
}

describe('the cells the panel writes', () => {
  it('compares the selected runs by id', () => {
    expect(compareCode(['4pdvn54d', 'k3x9a2bc'])).toBe('%track compare 4pdvn54d k3x9a2bc');
  });

  it('refuses nothing selected and anything that is not a run id', () => {
    expect(() => compareCode([])).toThrow('select at least one run');
    expect(() => compareCode(['abc; rm -rf /'])).toThrow('not a run id');
    expect(() => compareCode(['4pdvn54d', "x' --delete"])).toThrow('not a run id');
  });

  it('quotes a dataset path the way the magic splits it', () => {
    expect(quoteArg('data/table.csv')).toBe('data/table.csv');
    expect(quoteArg('my data/한국어 표.csv')).toBe("'my data/한국어 표.csv'");
    expect(quoteArg("it's")).toBe(`'it'"'"'s'`);
    expect(quoteArg('')).toBe("''");
    expect(quoteArg('$(reboot)')).toBe("'$(reboot)'");
    expect(diffCode('data/t.csv', 2)).toBe('%track diff data/t.csv 2 workspace');
    expect(diffCode('a b.csv', 1, '3')).toBe("%track diff 'a b.csv' 1 3");
  });
});

describe('values as the panel prints them', () => {
  it('keeps four significant digits and whole numbers whole', () => {
    expect(formatValue(0.871234)).toBe('0.8712');
    expect(formatValue(12)).toBe('12');
    expect(formatValue(123456.789)).toBe('123500');
    expect(formatValue(1234567.8)).toBe('1.235e+6');
    expect(formatValue(0.00001234)).toBe('1.234e-5');
    expect(formatValue(0)).toBe('0');
    expect(formatValue('NaN')).toBe('NaN');
    expect(formatValue(null)).toBe('');
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
    expect(formatValue(true)).toBe('true');
  });

  it('says durations in the unit that reads best', () => {
    expect(formatDuration(0.42)).toBe('0.4 s');
    expect(formatDuration(12.6)).toBe('13 s');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(7440)).toBe('2 h 4 min');
    expect(formatDuration(null)).toBe('');
  });
});

describe('the run list', () => {
  it('shows the most common metrics first, ties by name', () => {
    const runs = [run('a', { acc: 1, loss: 2 }), run('b', { acc: 1, f1: 3 }), run('c', { zeta: 1 })];
    expect(metricColumns(runs)).toEqual(['acc', 'f1', 'loss']);
    expect(metricColumns(runs, 1)).toEqual(['acc']);
    expect(metricColumns([])).toEqual([]);
  });

  it('pages within the selection', () => {
    expect(pageLabel(0, 50, 10000)).toBe('1-50 of 10,000');
    expect(pageLabel(9950, 50, 10000)).toBe('9951-10000 of 10,000');
    expect(pageLabel(0, 0, 0)).toBe('none');
    expect(turnPage(0, 50, 120, 1)).toBe(50);
    expect(turnPage(100, 50, 120, 1)).toBe(100); // no page after the last
    expect(turnPage(50, 50, 120, -1)).toBe(0);
    expect(turnPage(20, 50, 120, -1)).toBe(0);
  });

  it('asks again often only while runs are running and the panel is seen', () => {
    expect(refreshDelay(2, false)).toBe(3000);
    expect(refreshDelay(0, false)).toBe(15000);
    expect(refreshDelay(2, true)).toBe(30000);
  });
});

describe('the status bar and the request path', () => {
  it('names the innermost tracked run', () => {
    expect(activeLabel([])).toBe('');
    expect(activeLabel([run('outer'), run('inner')])).toBe('tracking inner (+1 outer)');
    expect(activeLabel([run('only')])).toBe('tracking only');
  });

  it('sends the notebook path without a drive prefix or a leading slash', () => {
    expect(requestPath('proj/nb.ipynb')).toBe('proj/nb.ipynb');
    expect(requestPath('RTC:proj/nb.ipynb')).toBe('proj/nb.ipynb');
    expect(requestPath('/proj/nb.ipynb')).toBe('proj/nb.ipynb');
    expect(requestPath(undefined)).toBe('');
  });
});

describe('experiments and times', () => {
  it('filters one experiment, quoting its name as the grammar reads it', () => {
    expect(experimentFilter('wine')).toBe("experiment = 'wine'");
    expect(experimentFilter("kim's runs")).toBe(`experiment = "kim's runs"`);
    expect(experimentFilter(`a'b"c`)).toBeNull();
  });

  it('says a start time as briefly as it can', () => {
    const now = new Date(2026, 11, 6, 15, 0);
    expect(shortTime(new Date(2026, 11, 6, 9, 5).toISOString(), now)).toBe('09:05');
    expect(shortTime(new Date(2026, 11, 5, 23, 0).toISOString(), now)).toBe('Dec 5');
    expect(shortTime(new Date(2025, 0, 2).toISOString(), now)).toBe('2025-01-02');
    expect(shortTime('not a time', now)).toBe('');
    expect(shortTime(null, now)).toBe('');
  });
});

describe('which store the panel shows', () => {
  it('follows the notebook, else the file browser, else the root', () => {
    expect(panelPath('a/nb.ipynb', 'b')).toBe('a/nb.ipynb');
    expect(panelPath(null, 'b/c')).toBe('b/c');
    expect(panelPath(undefined, '')).toBe('');
  });
});
