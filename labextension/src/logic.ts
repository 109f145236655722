// What the MLOps panel decides without a page: the cells it writes, how it shows values, which
// metrics a run list shows, its paging and refresh. No DOM here: jest tests it (logic.test.ts).

/** A run as the server lists it (`/nb-mlops/api/runs`). */
export interface RunRow {
  run_id: string;
  name: string;
  experiment?: string;
  status: string;
  start?: string | null;
  duration?: number | null;
  params?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** Run ids are the store's: eight base32 symbols (older stores: other letters and digits). */
const RUN_ID = /^[0-9a-z]{4,32}$/;

/**
 * One argument of a `%track` line as the magic splits it (Python's shlex): kept as is when it
 * needs no quoting, else single-quoted with embedded single quotes closed and reopened.
 */
export function quoteArg(text: string): string {
  if (text !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) {
    return text;
  }
  return "'" + text.replace(/'/g, `'"'"'`) + "'";
}

/** The cell that compares runs: `%track compare ID ID ...`; an error for a malformed id. */
export function compareCode(runIds: string[]): string {
  if (runIds.length < 1) {
    throw new Error('select at least one run to compare');
  }
  for (const id of runIds) {
    if (!RUN_ID.test(id)) {
      throw new Error(`not a run id: ${JSON.stringify(id)}`);
    }
  }
  return ['%track compare', ...runIds].join(' ');
}

/** The cell that shows how a dataset's version differs from another one or the workspace. */
export function diffCode(dataset: string, version: number | string, other = 'workspace'): string {
  return `%track diff ${quoteArg(dataset)} ${quoteArg(String(version))} ${quoteArg(other)}`;
}

/** A value as the panel prints it: numbers to 4 significant digits, text as it is. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      return String(value);
    }
    if (Number.isInteger(value) && Math.abs(value) < 1e6) {
      return String(value);
    }
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) {
      return value.toExponential(3);
    }
    return String(Number(value.toPrecision(4)));
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** Seconds as `0.4 s`, `12 s`, `3 min 5 s`, `2 h 4 min`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 10) {
    return `${Number(seconds.toFixed(1))} s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The metrics a run list shows as columns: the `max` most common among the runs shown. */
export function metricColumns(runs: RunRow[], max = 3): string[] {
  const counts = new Map<string, number>();
  for (const run of runs) {
    for (const key of Object.keys(run.metrics ?? {})) {
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, max)
    .map(([key]) => key);
}

/** `1-50 of 10,000` (or `none` / `51-60 of 60`). */
export function pageLabel(offset: number, shown: number, total: number): string {
  if (total === 0 || shown === 0) {
    return total === 0 ? 'none' : `none past ${total.toLocaleString('en-US')}`;
  }
  return `${offset + 1}-${offset + shown} of ${total.toLocaleString('en-US')}`;
}

/** The offset of the next or previous page, kept inside [0, total). */
export function turnPage(offset: number, limit: number, total: number, step: 1 | -1): number {
  const next = offset + step * limit;
  if (next < 0) {
    return 0;
  }
  return next >= total ? offset : next;
}

/** Milliseconds until the panel asks again: often while runs are running, else rarely. */
export function refreshDelay(running: number, hidden: boolean): number {
  if (hidden) {
    return 30000;
  }
  return running > 0 ? 3000 : 15000;
}

/** The status bar's text for the runs a kernel tracks (innermost last), '' for none. */
export function activeLabel(runs: RunRow[]): string {
  if (runs.length === 0) {
    return '';
  }
  const inner = runs[runs.length - 1];
  const more = runs.length > 1 ? ` (+${runs.length - 1} outer)` : '';
  return `tracking ${inner.name}${more}`;
}

/**
 * The folder path the panel asks the server about: a notebook's or file's own path as the
 * contents API names it (the server walks up from its folder), '' for the server's root.
 */
export function requestPath(path: string | null | undefined): string {
  if (!path) {
    return '';
  }
  const local = path.includes(':') ? path.slice(path.indexOf(':') + 1) : path;
  return local.replace(/^\/+/, '');
}

/** The filter that selects one experiment's runs (a name with both quote kinds: null). */
export function experimentFilter(name: string): string | null {
  if (!name.includes("'")) {
    return `experiment = '${name}'`;
  }
  return name.includes('"') ? null : `experiment = "${name}"`;
}

/** A start time as the run list shows it: `14:03` today, `Dec 5` this year, else `2025-12-05`. */
export function shortTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) {
    return '';
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  if (when.toDateString() === now.toDateString()) {
    return `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  }
  const months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');
  if (when.getFullYear() === now.getFullYear()) {
    return `${months[when.getMonth()]} ${when.getDate()}`;
  }
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
}

/**
 * The path the panel asks about: the current notebook's, else the folder the file browser shows
 * (both as the contents API names them), else '' (the server's root).
 */
export function panelPath(notebook: string | null | undefined, folder: string | null | undefined): string {
  return requestPath(notebook) || requestPath(folder);
}
