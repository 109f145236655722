// The chart renderer: `application/vnd.nbmlops.chart+json` = {data, layout, config?}, a plain
// plotly figure spec. plotly.js is fetched as a separate chunk the first time a chart is drawn
// (once per page, shared by every chart), the chart takes its colours from the JupyterLab theme,
// and an update of the same output (display-id update, Output widget) redraws it in place with
// Plotly.react so nothing blanks and the user's zoom is kept. If plotly.js cannot be loaded or
// the spec cannot be drawn, the bundle's static text/html (an inline SVG) is shown instead.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IThemeManager } from '@jupyterlab/apputils';
import { IConsoleTracker } from '@jupyterlab/console';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry, RenderedHTML, RenderedText } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

/** The chart mime type (nb_mlops.notebook.widgets.chart.CHART_MIME on the Python side). */
export const CHART_MIME = 'application/vnd.nbmlops.chart+json';

/** Below text/html (50) and the image types, so a chart bundle is drawn, not shown as SVG. */
export const CHART_RANK = 5;

/** Height in pixels when the spec's layout gives none. */
export const DEFAULT_HEIGHT = 360;

type Json = { [key: string]: any };

/** A figure spec as the Python side sends it. */
export interface IChartSpec {
  data: Json[];
  layout: Json;
  config: Json;
}

// ---------------------------------------------------------------------------------------------
// plotly.js, loaded once per page

let plotlyLoad: Promise<any> | null = null;

/** plotly.js from its own chunk, fetched on first use; a failed fetch may be retried later. */
export function loadPlotly(): Promise<any> {
  if (!plotlyLoad) {
    plotlyLoad = import(/* webpackChunkName: "nbm-plotly" */ 'plotly.js-dist-min').then(
      (mod: any) => mod.default ?? mod,
      (err: unknown) => {
        plotlyLoad = null;
        throw err;
      }
    );
  }
  return plotlyLoad;
}

// ---------------------------------------------------------------------------------------------
// the theme

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

interface ITheme {
  font: string;
  muted: string;
  grid: string;
  family: string;
}

function currentTheme(): ITheme {
  return {
    font: cssVar('--jp-ui-font-color1', '#212121'),
    muted: cssVar('--jp-ui-font-color2', '#616161'),
    grid: cssVar('--jp-border-color2', '#e0e0e0'),
    family: cssVar('--jp-ui-font-family', 'sans-serif')
  };
}

function themedAxis(axis: Json | undefined, theme: ITheme): Json {
  const given = axis ?? {};
  return {
    gridcolor: theme.grid,
    zerolinecolor: theme.grid,
    linecolor: theme.grid,
    ...given,
    tickfont: { color: theme.muted, ...(given.tickfont ?? {}) }
  };
}

/**
 * The spec's layout with the theme's colours where the spec sets none: transparent backgrounds,
 * the UI font and colours, grid and axis lines in the border colour. The height goes to the host
 * node (see ChartRenderer), the width follows the output area.
 */
export function themedLayout(layout: Json, theme: ITheme = currentTheme()): Json {
  const out: Json = {
    uirevision: 'nbm',
    ...layout,
    paper_bgcolor: layout.paper_bgcolor ?? 'rgba(0,0,0,0)',
    plot_bgcolor: layout.plot_bgcolor ?? 'rgba(0,0,0,0)',
    font: { family: theme.family, color: theme.font, ...(layout.font ?? {}) },
    autosize: true
  };
  delete out.height;
  const axes = Object.keys(layout).filter(key => /^[xy]axis\d*$/.test(key));
  for (const key of new Set(['xaxis', 'yaxis', ...axes])) {
    out[key] = themedAxis(layout[key], theme);
  }
  return out;
}

/** The spec in a model, or null when it is not a figure (then the static form is shown). */
export function readSpec(value: unknown): IChartSpec | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return null;
  }
  const spec = value as Json;
  if (!Array.isArray(spec.data)) {
    return null;
  }
  const obj = (x: unknown): Json => (x && typeof x === 'object' && !Array.isArray(x) ? x : {});
  // A copy: plotly.js writes into the objects it is given, and these are the output's own data.
  const copy = JSON.parse(JSON.stringify(spec)) as Json;
  return { data: copy.data, layout: obj(copy.layout), config: obj(copy.config) };
}

/**
 * Whether a spec holds parallel coordinates: a WebGL trace whose first draw reads its pixels
 * back, which holds the page for a second or more where there is no GPU. Such a chart is drawn
 * once the page is idle, after the other charts of the output.
 */
export function drawnLate(spec: IChartSpec): boolean {
  return spec.data.some(trace => trace?.type === 'parcoords');
}

function whenIdle(): Promise<void> {
  return new Promise(resolve => {
    const idle = (window as Json).requestIdleCallback;
    if (typeof idle === 'function') {
      idle(() => resolve(), { timeout: 1000 });
    } else {
      window.setTimeout(resolve, 50);
    }
  });
}

function specHeight(spec: IChartSpec): number {
  const h = Number(spec.layout.height);
  return Number.isFinite(h) && h > 0 ? h : DEFAULT_HEIGHT;
}

// ---------------------------------------------------------------------------------------------
// the renderer

/** Every chart on the page, redrawn when the theme changes. */
const liveCharts = new Set<ChartRenderer>();

/** Redraw every chart with the current theme's colours. */
export function redrawAllCharts(): void {
  // After the new theme's CSS variables are in force.
  requestAnimationFrame(() => liveCharts.forEach(chart => chart.redraw()));
}

/**
 * One chart. Plotly draws into this node itself (so it carries both `nbm-chart` and plotly's
 * `js-plotly-plot`); the static fallback, when needed, is a child widget.
 */
export class ChartRenderer extends Panel implements IRenderMime.IRenderer {
  private readonly options: IRenderMime.IRendererOptions;
  private model: IRenderMime.IMimeModel | null = null;
  private spec: IChartSpec | null = null;
  private wanted = 0; // bumped by every new spec or theme change
  private drawnVersion = 0;
  private plotted = false;
  private queue: Promise<void> = Promise.resolve();
  private fallback: Widget | null = null;
  private attachedOnce: Promise<void>;
  private markAttached: () => void = () => undefined;
  private resizeObserver: ResizeObserver | null = null;
  private resizeFrame = 0;

  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.options = options;
    this.addClass('nbm-chart');
    this.attachedOnce = new Promise(resolve => (this.markAttached = resolve));
    liveCharts.add(this);
  }

  /** Draw (or redraw in place) the model's chart. Never rejects: failures show the static form. */
  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.model = model;
    this.spec = readSpec(model.data[CHART_MIME]);
    this.wanted += 1;
    return this.schedule();
  }

  /** Redraw the current spec (the theme changed). */
  redraw(): void {
    if (this.spec && !this.isDisposed) {
      this.wanted += 1;
      void this.schedule();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    liveCharts.delete(this);
    this.resizeObserver?.disconnect();
    cancelAnimationFrame(this.resizeFrame);
    if (this.plotted && plotlyLoad) {
      void plotlyLoad.then(Plotly => Plotly.purge(this.node)).catch(() => undefined);
    }
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.markAttached();
    if (!this.resizeObserver && typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => this.scheduleResize());
      this.resizeObserver.observe(this.node);
    }
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.scheduleResize();
  }

  private scheduleResize(): void {
    cancelAnimationFrame(this.resizeFrame);
    this.resizeFrame = requestAnimationFrame(() => {
      // Plots.resize refuses a node that is not displayed (a collapsed output, a hidden tab).
      if (!this.plotted || !plotlyLoad || this.node.offsetWidth === 0) {
        return;
      }
      void plotlyLoad.then(Plotly => Plotly.Plots.resize(this.node)).catch(() => undefined);
    });
  }

  // Draws run one after the other on this node; each draws the newest spec, skipping stale ones.
  private schedule(): Promise<void> {
    this.queue = this.queue.then(() => this.drawNewest()).catch(() => undefined);
    return this.queue;
  }

  private async drawNewest(): Promise<void> {
    if (this.isDisposed || this.drawnVersion === this.wanted || !this.model) {
      return;
    }
    const version = this.wanted;
    const spec = this.spec;
    if (!spec) {
      await this.showStatic(this.model);
      this.drawnVersion = version;
      return;
    }
    this.node.style.height = `${specHeight(spec)}px`;
    if (!this.isAttached) {
      // Drawn once in the page, so plotly measures the real width.
      await this.attachedOnce;
    }
    if (!this.plotted && drawnLate(spec)) {
      await whenIdle();
      if (this.isDisposed) {
        return;
      }
    }
    try {
      const Plotly = await loadPlotly();
      const config = { ...spec.config, displaylogo: false, responsive: false };
      await Plotly.react(this.node, spec.data, themedLayout(spec.layout), config);
      this.plotted = true;
      this.removeStatic();
    } catch (err) {
      console.warn('nb-mlops: chart not drawn, showing its static form', err);
      if (this.plotted) {
        this.plotted = false;
        try {
          (await loadPlotly()).purge(this.node);
        } catch {
          // plotly.js itself is missing: nothing of it to clear
        }
      }
      await this.showStatic(this.model);
    }
    this.drawnVersion = version;
  }

  private async showStatic(model: IRenderMime.IMimeModel): Promise<void> {
    this.removeStatic();
    const html = typeof model.data['text/html'] === 'string';
    const mimeType = html ? 'text/html' : 'text/plain';
    const renderer = html
      ? new RenderedHTML({ ...this.options, mimeType })
      : new RenderedText({ ...this.options, mimeType });
    this.fallback = renderer;
    this.node.style.height = '';
    this.addClass('nbm-chart-static');
    this.addWidget(renderer);
    if (html || typeof model.data['text/plain'] === 'string') {
      await renderer.renderModel(model);
    } else {
      renderer.node.textContent = 'chart: no static form in this output';
    }
  }

  private removeStatic(): void {
    if (this.fallback) {
      this.fallback.dispose();
      this.fallback = null;
      this.removeClass('nbm-chart-static');
    }
  }
}

/** The renderer factory for the chart mime type (safe: a chart is data, never code). */
export const chartFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [CHART_MIME],
  defaultRank: CHART_RANK,
  createRenderer: options => new ChartRenderer(options)
};

function ensureChart(rendermime: IRenderMimeRegistry): void {
  if (!rendermime.getFactory(CHART_MIME)) {
    rendermime.addFactory(chartFactory, CHART_RANK);
  }
}

/** Registers the chart renderer and redraws charts when the theme changes. */
export const chartPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nb-mlops:chart',
  description: 'Draws nb-mlops charts with plotly.js, loaded once per page.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [IThemeManager, INotebookTracker, IConsoleTracker],
  activate: (
    _app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    themes: IThemeManager | null,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null
  ) => {
    ensureChart(rendermime);
    // Panels clone the page's registry when they open; one opened before this ran gets it here.
    notebooks?.forEach(panel => ensureChart(panel.content.rendermime));
    notebooks?.widgetAdded.connect((_, panel) => ensureChart(panel.content.rendermime));
    consoles?.forEach(panel => ensureChart(panel.console.rendermime));
    consoles?.widgetAdded.connect((_, panel) => ensureChart(panel.console.rendermime));
    if (themes) {
      themes.themeChanged.connect(() => redrawAllCharts());
    } else {
      const watch = new MutationObserver(() => redrawAllCharts());
      watch.observe(document.body, {
        attributes: true,
        attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
      });
    }
  }
};
