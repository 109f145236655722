// The MLOps side panel: the runs, datasets, models, evaluations and monitors of the store the
// current notebook's path leads to, read from the server extension. Everything the store says is
// put into the page as text (never as HTML): run names and params are user data.
import { Dialog, InputDialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { ApiError, requestAPI } from './api';
import {
  RunRow,
  compareCode,
  diffCode,
  experimentFilter,
  formatDuration,
  formatValue,
  metricColumns,
  pageLabel,
  refreshDelay,
  shortTime,
  turnPage
} from './logic';

const PAGE = 50;

interface Summary {
  store: string;
  runs: number;
  experiments: { name: string; runs: number }[];
  running: number;
}

interface RunPage {
  store: string;
  total: number;
  offset: number;
  limit: number;
  runs: RunRow[];
}

interface Version {
  version: number;
  message?: string | null;
  created?: string;
  size?: number;
  runs?: string[];
}

interface Dataset {
  path: string;
  state?: string;
  version?: number | null;
  versions: Version[];
  error?: string;
}

interface Model {
  name: string;
  versions: number;
  latest: number | null;
  aliases: Record<string, number>;
}

/** What the panel needs from the page around it. */
export interface PanelHost {
  /** The path of the current notebook ('' when none: the server's root). */
  path(): string;
  /** Insert `code` as a new cell below the active one of the current notebook and run it. */
  insertAndRun(code: string): Promise<void>;
}

/** A DOM element with a class and text. */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const node = el('button', 'jp-Button nbm-panel-button', label);
  node.title = title;
  node.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return node;
}

export class MLOpsPanel extends Widget {
  constructor(private readonly host: PanelHost) {
    super();
    this.id = 'nb-mlops-panel';
    this.addClass('nbm-panel');
    this.title.caption = 'MLOps: runs, datasets and models of this notebook’s store';
    const head = el('div', 'nbm-panel-head');
    head.append(this.storeLine, button('Refresh', 'Read the store again', () => this.refresh(true)));
    this.search.type = 'search';
    this.search.placeholder = "Filter runs: metrics.acc > 0.9 AND params.model = 'rf'";
    this.search.className = 'nbm-panel-search jp-mod-styled';
    this.search.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this.filter = this.search.value.trim();
        this.offset = 0;
        this.refresh(false);
      }
    });
    const pager = el('div', 'nbm-panel-pager');
    pager.append(
      button('‹', 'Previous page', () => this.turn(-1)),
      this.pageText,
      button('›', 'Next page', () => this.turn(1)),
      this.compareButton
    );
    this.compareButton.disabled = true;
    this.node.append(
      head,
      this.message,
      this.search,
      this.section('Runs', this.experimentsBox, this.runsBox, pager),
      this.detail,
      this.section('Datasets', this.datasetsBox),
      this.section('Models', this.modelsBox),
      this.section('Evaluations', this.evalsBox),
      this.section('Monitors', this.monitorsBox)
    );
    this.detail.hidden = true;
  }

  /** Read the store again (everything when `all`, else the summary and the runs). */
  async refresh(all = true): Promise<void> {
    const path = this.host.path();
    const moved = path !== this.path;
    this.path = path;
    if (moved) {
      this.offset = 0;
      this.selected.clear();
      this.detail.hidden = true;
    }
    window.clearTimeout(this.timer);
    try {
      const summary = await requestAPI<Summary>('store', { path });
      this.summary = summary;
      this.storeLine.textContent = `Store: ${summary.store}`;
      this.message.textContent = '';
      this.showExperiments(summary.experiments ?? []);
      await this.loadRuns();
      if (all || moved) {
        await Promise.all([this.loadDatasets(), this.loadModels(), this.loadExtras()]);
      }
    } catch (error) {
      this.showProblem(error);
    }
    if (!this.isDisposed) {
      const delay = refreshDelay(this.summary?.running ?? 0, !this.isVisible);
      this.timer = window.setTimeout(() => this.refresh(false), delay);
    }
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh(true);
  }

  // ------------------------------------------------------------------------------ runs
  private async loadRuns(): Promise<void> {
    const page = await requestAPI<RunPage>('runs', {
      path: this.path,
      filter: this.filter,
      offset: this.offset,
      limit: PAGE
    });
    this.total = page.total;
    this.pageText.textContent = pageLabel(page.offset, page.runs.length, page.total);
    const columns = metricColumns(page.runs);
    const table = el('table', 'nbm-panel-table nbm-panel-runs');
    const head = el('tr');
    for (const title of ['', 'run', 'status', ...columns, 'started', 'duration']) {
      head.append(el('th', '', title));
    }
    table.append(head);
    for (const run of page.runs) {
      const row = el('tr', `nbm-run nbm-status-${run.status}`);
      row.dataset.runId = run.run_id;
      const pick = el('input');
      pick.type = 'checkbox';
      pick.checked = this.selected.has(run.run_id);
      pick.title = 'Select for Compare';
      pick.addEventListener('change', () => {
        if (pick.checked) {
          this.selected.add(run.run_id);
        } else {
          this.selected.delete(run.run_id);
        }
        this.updateCompare();
      });
      const check = el('td');
      check.append(pick);
      const name = el('td', 'nbm-run-name', run.name);
      name.title = `${run.run_id} · ${run.experiment ?? ''} · ${run.start ?? ''}`;
      name.addEventListener('click', () => this.showRun(run.run_id));
      row.append(check, name, el('td', 'nbm-run-status', run.status));
      for (const key of columns) {
        row.append(el('td', 'nbm-num', formatValue((run.metrics ?? {})[key])));
      }
      row.append(
        el('td', 'nbm-num', shortTime(run.start)),
        el('td', 'nbm-num', formatDuration(run.duration))
      );
      table.append(row);
    }
    this.runsBox.replaceChildren(
      page.runs.length ? table : el('div', 'nbm-panel-empty', this.filter ? 'no run matches' : 'no runs yet')
    );
    this.updateCompare();
  }

  /** One chip per experiment (its runs counted); a click filters the list to it. */
  private showExperiments(experiments: { name: string; runs: number }[]): void {
    this.experimentsBox.replaceChildren();
    for (const experiment of experiments) {
      const wanted = experimentFilter(experiment.name);
      const chip = button(
        `${experiment.name} (${experiment.runs.toLocaleString('en-US')})`,
        wanted ? `Show the runs of ${experiment.name}` : 'This name cannot be filtered on here',
        () => {
          if (wanted) {
            this.filter = this.search.value = this.filter === wanted ? '' : wanted;
            this.offset = 0;
            void this.refresh(false);
          }
        }
      );
      chip.classList.add('nbm-experiment');
      chip.classList.toggle('nbm-chosen', this.filter === wanted);
      this.experimentsBox.append(chip);
    }
  }

  private turn(step: 1 | -1): void {
    const next = turnPage(this.offset, PAGE, this.total, step);
    if (next !== this.offset) {
      this.offset = next;
      this.refresh(false);
    }
  }

  private updateCompare(): void {
    const n = this.selected.size;
    this.compareButton.disabled = n === 0;
    this.compareButton.textContent = n ? `Compare ${n}` : 'Compare';
  }

  private async compare(): Promise<void> {
    try {
      await this.host.insertAndRun(compareCode([...this.selected]));
    } catch (error) {
      this.showProblem(error);
    }
  }

  private async showRun(runId: string): Promise<void> {
    try {
      const run = await requestAPI<any>(`runs/${encodeURIComponent(runId)}`, { path: this.path });
      const box = this.detail;
      box.replaceChildren();
      const head = el('div', 'nbm-panel-head');
      head.append(
        el('strong', 'nbm-detail-name', `${run.name} (${run.run_id})`),
        button('×', 'Close the run', () => {
          box.hidden = true;
        })
      );
      const facts = el('div', 'nbm-detail-facts');
      const started = run.start ? new Date(run.start).toLocaleString() : '';
      facts.textContent = [run.status, run.experiment, started, formatDuration(run.duration)]
        .filter(Boolean)
        .join(' · ');
      box.append(head, facts);
      for (const [title, values] of [
        ['Params', run.params ?? {}],
        ['Metrics', run.metrics ?? {}]
      ] as [string, Record<string, unknown>][]) {
        const table = el('table', 'nbm-panel-table');
        table.append(el('caption', '', title));
        for (const [key, value] of Object.entries(values)) {
          const row = el('tr');
          row.append(el('td', '', key), el('td', 'nbm-num', formatValue(value)));
          table.append(row);
        }
        box.append(table);
      }
      box.hidden = false;
      box.scrollIntoView?.({ block: 'nearest' });
    } catch (error) {
      this.showProblem(error);
    }
  }

  // --------------------------------------------------------------------------- datasets
  private async loadDatasets(): Promise<void> {
    const { datasets } = await requestAPI<{ datasets: Dataset[] }>('datasets', {
      path: this.path
    });
    const box = el('div');
    for (const dataset of datasets) {
      const item = el('div', 'nbm-panel-item');
      const state = dataset.error ?? dataset.state ?? '';
      item.append(el('div', 'nbm-item-title', `${dataset.path}${state ? ` · ${state}` : ''}`));
      const list = el('table', 'nbm-panel-table');
      for (const v of [...dataset.versions].reverse()) {
        const row = el('tr');
        const mark = v.version === dataset.version ? ' (checked out)' : '';
        row.append(
          el('td', '', `v${v.version}${mark}`),
          el('td', 'nbm-item-note', v.message ?? ''),
          el('td')
        );
        row.lastElementChild!.append(
          button('Diff', 'Show what differs from the workspace (a cell)', () =>
            this.run(diffCode(dataset.path, v.version))
          ),
          button('Checkout', 'Make the workspace hold this version', () =>
            this.checkout(dataset.path, v.version)
          )
        );
        list.append(row);
      }
      item.append(list);
      box.append(item);
    }
    this.datasetsBox.replaceChildren(
      datasets.length ? box : el('div', 'nbm-panel-empty', 'no dataset versions yet')
    );
  }

  private async checkout(dataset: string, version: number): Promise<void> {
    const answer = await showDialog({
      title: `Check out ${dataset} version ${version}?`,
      body: 'The files in the project change to that version. Unsaved changes to the dataset are refused, as with %track checkout.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Check out' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await requestAPI('checkout', {}, { path: this.path, dataset, version });
      await this.refresh(true);
    } catch (error) {
      this.showProblem(error);
    }
  }

  // ----------------------------------------------------------------------------- models
  private async loadModels(): Promise<void> {
    const { models } = await requestAPI<{ models: Model[] }>('models', { path: this.path });
    const box = el('div');
    for (const model of models) {
      const item = el('div', 'nbm-panel-item');
      const title = el('div', 'nbm-item-title', `${model.name} · ${model.versions} versions`);
      title.append(
        button('Promote', 'Point an alias at a version', () => this.promote(model))
      );
      item.append(title);
      for (const [alias, version] of Object.entries(model.aliases).sort()) {
        const row = el('div', 'nbm-alias');
        row.append(
          el('span', '', `@${alias} → v${version}`),
          button('Rollback', `Move @${alias} back to where it was before`, () =>
            this.rollback(model.name, alias)
          )
        );
        item.append(row);
      }
      box.append(item);
    }
    this.modelsBox.replaceChildren(
      models.length ? box : el('div', 'nbm-panel-empty', 'no registered models yet')
    );
  }

  private async promote(model: Model): Promise<void> {
    const versions: string[] = [];
    for (let v = model.versions; v >= 1; v--) {
      versions.push(String(v));
    }
    const picked = await InputDialog.getItem({
      title: `Promote ${model.name}: which version?`,
      items: versions,
      current: model.latest !== null ? String(model.latest) : undefined
    });
    if (!picked.button.accept || !picked.value) {
      return;
    }
    const alias = await InputDialog.getText({
      title: `Point which alias of ${model.name} at version ${picked.value}?`,
      text: 'production'
    });
    if (!alias.button.accept || !alias.value) {
      return;
    }
    await this.moveAlias({ model: model.name, alias: alias.value, version: Number(picked.value) });
  }

  private async rollback(model: string, alias: string): Promise<void> {
    const answer = await showDialog({
      title: `Roll ${model}@${alias} back?`,
      body: 'The alias moves back to the version it pointed at before (its history keeps both moves).',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })]
    });
    if (answer.button.accept) {
      await this.moveAlias({ model, alias, rollback: true });
    }
  }

  private async moveAlias(body: Record<string, unknown>): Promise<void> {
    try {
      await requestAPI('alias', {}, { path: this.path, ...body });
      await this.loadModels();
    } catch (error) {
      this.showProblem(error);
    }
  }

  // ----------------------------------------------------- evaluations and monitors
  /** The scoreboard and the monitors, each section shown only when the store has some. */
  private async loadExtras(): Promise<void> {
    const [board, listing] = await Promise.all([
      requestAPI<any>('evals', { path: this.path }),
      requestAPI<{ monitors: any[] }>('monitors', { path: this.path })
    ]);
    this.evalsBox.parentElement!.hidden = !board.rows.length;
    this.monitorsBox.parentElement!.hidden = !listing.monitors.length;
    if (board.rows.length) {
      const table = el('table', 'nbm-panel-table');
      const head = el('tr');
      for (const title of ['model', 'dataset', ...board.metrics]) {
        head.append(el('th', '', title));
      }
      table.append(head);
      for (const row of board.rows) {
        const line = el('tr');
        const label = el('td', '', row.label);
        label.title = `run ${row.run_name ?? ''} (${row.run_id ?? ''})`;
        line.append(label, el('td', '', row.dataset));
        for (const metric of board.metrics) {
          line.append(el('td', 'nbm-num', formatValue(row.scores?.[metric]?.score)));
        }
        table.append(line);
      }
      this.evalsBox.replaceChildren(table);
    }
    if (listing.monitors.length) {
      const list = el('div');
      for (const monitor of listing.monitors) {
        const alerts = Number(monitor.alerts ?? 0);
        const line = el('div', alerts ? 'nbm-panel-item nbm-alerting' : 'nbm-panel-item');
        line.textContent = `${monitor.name} · ${monitor.task ?? ''} · ${alerts} alert${alerts === 1 ? '' : 's'}`;
        list.append(line);
      }
      this.monitorsBox.replaceChildren(list);
    }
  }

  // ------------------------------------------------------------------------------ parts
  private section(title: string, ...children: HTMLElement[]): HTMLElement {
    const part = el('section', 'nbm-panel-section');
    part.append(el('h3', '', title), ...children);
    return part;
  }

  private async run(code: string): Promise<void> {
    try {
      await this.host.insertAndRun(code);
    } catch (error) {
      this.showProblem(error);
    }
  }

  private showProblem(error: unknown): void {
    const text = error instanceof ApiError ? error.message : String(error);
    this.message.textContent = text;
    if (!(error instanceof ApiError)) {
      void showErrorMessage('MLOps panel', text);
    }
  }

  private path = '\u0000';
  private filter = '';
  private offset = 0;
  private total = 0;
  private timer = 0;
  private summary: Summary | null = null;
  private readonly selected = new Set<string>();
  private readonly storeLine = el('div', 'nbm-panel-store', 'Store: …');
  private readonly message = el('div', 'nbm-panel-message');
  private readonly search = el('input');
  private readonly pageText = el('span', 'nbm-panel-page');
  private readonly compareButton = button('Compare', 'Compare the selected runs in a new cell', () =>
    this.compare()
  );
  private readonly experimentsBox = el('div', 'nbm-panel-experiments');
  private readonly runsBox = el('div', 'nbm-panel-scroll');
  private readonly detail = el('div', 'nbm-panel-detail');
  private readonly datasetsBox = el('div');
  private readonly modelsBox = el('div');
  private readonly evalsBox = el('div', 'nbm-panel-scroll');
  private readonly monitorsBox = el('div');
}
