// The widget-view wrapper: `application/vnd.nbmlops.view+json` = {model_id, version_major,
// version_minor}. The widget is shown through the page's widget manager (the renderer that
// @jupyter-widgets/jupyterlab-manager registers for application/vnd.jupyter.widget-view+json);
// the bundle's static text/html is shown instead when there is no widget manager (the widgets
// extension is disabled, no kernel), when the model is missing (kernel restarted, notebook
// reopened, no saved state), or when the widget fails or does not come in time. Never an error
// box, never a blank output.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IConsoleTracker } from '@jupyterlab/console';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

/** The view mime type (nb_mlops.notebook.widgets.chart.VIEW_MIME on the Python side). */
export const VIEW_MIME = 'application/vnd.nbmlops.view+json';

/** The ipywidgets view mime type, rendered by the page's widget manager. */
export const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';

/** Preferred over text/html (50); unsafe like the widget renderer, so untrusted outputs stay static. */
export const VIEW_RANK = -5;

/** How long the live widget may take before the static form is put in its place (it may still come). */
export const GRACE_MS = 1500;

/** How long to wait for a widget manager (a kernel connecting) or for the widget to come. */
export const WAIT_MS = 60000;

const POLL_MS = 250;

/** Pause before asking the manager again for a model it did not have yet. */
export const RETRY_MS = 1000;

type LiveState = 'ok' | 'error' | 'pending';

/** What the widget renderer shows: the widget, an error, or still "Loading widget...". */
function liveState(inner: Widget): LiveState {
  const node = inner.node;
  if (/^\s*Error displaying widget/.test(node.textContent ?? '')) {
    return 'error';
  }
  if (node.querySelector('.jupyter-widgets-error-widget')) {
    return 'error'; // a view class that failed to load
  }
  return childWidget(inner) ? 'ok' : 'pending';
}

/**
 * Whether the widget renderer said the model is not there. Right after a page reload the manager
 * can say so while it is still fetching the kernel's models: worth asking again for a while.
 */
function modelMissing(inner: Widget): boolean {
  return /model not found/i.test(inner.node.textContent ?? '');
}

/** The widget view inside the widget renderer (a Panel holding it once it is created). */
function childWidget(inner: Widget): Widget | null {
  const children = (inner as unknown as { widgets?: readonly Widget[] }).widgets;
  return children && children.length > 0 ? children[0] : null;
}

/** The model reference in a view bundle, or null when it is not one. */
export function readRef(value: unknown): { model_id: string } | null {
  if (!value || typeof value !== 'object') {
    return null;
  }
  const id = (value as { model_id?: unknown }).model_id;
  return typeof id === 'string' && id !== '' ? { model_id: id } : null;
}

/** Resolves true when `test()` holds, false when `ms` pass first or `stop()` holds. */
function waitUntil(test: () => boolean, stop: () => boolean, ms: number): Promise<boolean> {
  return new Promise(resolve => {
    const deadline = Date.now() + ms;
    const tick = () => {
      if (stop()) {
        resolve(false);
      } else if (test()) {
        resolve(true);
      } else if (Date.now() > deadline) {
        resolve(false);
      } else {
        window.setTimeout(tick, POLL_MS);
      }
    };
    tick();
  });
}

/**
 * One result shown as a widget. `rendermime` is the registry of the notebook (or console) the
 * output lives in: the widget manager registers its renderer there once the kernel is connected.
 * `page` is the page's own registry, which never has a manager-bound widget renderer: while the
 * two hold the same widget factory, the manager is not there yet.
 */
export class ViewRenderer extends Panel implements IRenderMime.IRenderer {
  private generation = 0;
  private live: IRenderMime.IRenderer | null = null;
  private staticView: IRenderMime.IRenderer | null = null;
  private watch: MutationObserver | null = null;
  private promoted: Widget | null = null;
  private retryUntil = 0;

  constructor(
    private readonly rendermime: IRenderMimeRegistry,
    private readonly page: IRenderMimeRegistry
  ) {
    super();
    this.addClass('nbm-view');
  }

  /** Show the widget, or the static form. Never rejects. */
  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const generation = ++this.generation;
    this.retryUntil = Date.now() + WAIT_MS;
    this.clearLive();
    this.clearStatic();
    try {
      await this.present(model, generation);
    } catch (err) {
      console.warn('nb-mlops: widget not shown, showing its static form', err);
      if (this.current(generation)) {
        this.clearLive();
        await this.showStatic(model, generation);
      }
    }
  }

  dispose(): void {
    this.generation += 1;
    this.clearLive();
    super.dispose();
  }

  private current(generation: number): boolean {
    return generation === this.generation && !this.isDisposed;
  }

  /** Whether the registry's widget renderer is bound to a widget manager. */
  private managerReady(): boolean {
    const factory = this.rendermime.getFactory(WIDGET_MIME);
    return !!factory && factory !== this.page.getFactory(WIDGET_MIME);
  }

  private async present(model: IRenderMime.IMimeModel, generation: number): Promise<void> {
    const ref = readRef(model.data[VIEW_MIME]);
    const widgets = this.rendermime.getFactory(WIDGET_MIME) ?? this.page.getFactory(WIDGET_MIME);
    if (!ref || !widgets) {
      return this.showStatic(model, generation); // no widgets extension on this page
    }
    if (!this.managerReady()) {
      // The page is loading or the kernel is not connected: static now, the widget when it can.
      await this.showStatic(model, generation);
      const stop = () => !this.current(generation);
      if (!(await waitUntil(() => this.managerReady(), stop, WAIT_MS))) {
        return;
      }
    }
    await this.mountLive(model, ref.model_id, generation);
  }

  private async mountLive(
    model: IRenderMime.IMimeModel,
    modelId: string,
    generation: number
  ): Promise<void> {
    const inner = this.rendermime.createRenderer(WIDGET_MIME);
    this.live = inner;
    if (this.staticView) {
      inner.hide(); // kept out of sight until the widget is there
    }
    this.addWidget(inner);
    const settle = (state: LiveState) => {
      if (!this.current(generation) || this.live !== inner) {
        return;
      }
      if (state === 'ok') {
        this.promote(inner, model, generation);
      } else if (state === 'error') {
        const again = modelMissing(inner) && Date.now() < this.retryUntil;
        this.clearLive();
        void this.showStatic(model, generation).then(() => {
          if (again) {
            window.setTimeout(() => {
              if (this.current(generation) && !this.live) {
                void this.mountLive(model, modelId, generation);
              }
            }, RETRY_MS);
          }
        });
      }
    };
    this.watch = new MutationObserver(() => settle(liveState(inner)));
    this.watch.observe(inner.node, { childList: true, subtree: true, characterData: true });
    const widgetModel = new MimeModel({
      data: { [WIDGET_MIME]: { model_id: modelId, version_major: 2, version_minor: 0 } },
      trusted: model.trusted
    });
    const rendered = inner.renderModel(widgetModel).then(
      () => true,
      (err: unknown) => {
        console.warn('nb-mlops: widget view failed', err);
        return false;
      }
    );
    const inTime = await Promise.race([rendered, delay(GRACE_MS).then(() => null)]);
    if (!this.current(generation) || this.live !== inner) {
      return;
    }
    const state = inTime === false ? 'error' : liveState(inner);
    if (state !== 'pending') {
      return settle(state);
    }
    // Still loading (the manager restores the page's widgets after a reload): static meanwhile.
    if (!this.staticView) {
      inner.hide();
      await this.showStatic(model, generation);
    }
    const stop = () => !this.current(generation) || this.live !== inner;
    const came = await waitUntil(() => liveState(inner) !== 'pending', stop, WAIT_MS);
    if (!came && !stop()) {
      this.clearLive(); // it never came: the static form stays
    } else if (came) {
      settle(liveState(inner));
    }
  }

  /** The widget is there: show it, drop the static form, and go back to it if the view closes. */
  private promote(inner: IRenderMime.IRenderer, model: IRenderMime.IMimeModel, generation: number) {
    if (this.promoted === inner) {
      return;
    }
    this.promoted = inner;
    this.watch?.disconnect();
    this.watch = null;
    this.clearStatic();
    inner.show();
    childWidget(inner)?.disposed.connect(() => {
      if (this.current(generation) && this.live === inner) {
        this.clearLive();
        void this.showStatic(model, generation); // the widget was closed from Python
      }
    });
  }

  private async showStatic(model: IRenderMime.IMimeModel, generation: number): Promise<void> {
    if (!this.current(generation) || this.staticView) {
      return;
    }
    const hasHtml = typeof model.data['text/html'] === 'string';
    const renderer = this.rendermime.createRenderer(hasHtml ? 'text/html' : 'text/plain');
    this.staticView = renderer;
    this.addClass('nbm-view-static');
    this.insertWidget(0, renderer);
    await renderer.renderModel(model);
  }

  private clearStatic(): void {
    this.staticView?.dispose();
    this.staticView = null;
    this.removeClass('nbm-view-static');
  }

  private clearLive(): void {
    this.watch?.disconnect();
    this.watch = null;
    this.live?.dispose();
    this.live = null;
    this.promoted = null;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise(resolve => window.setTimeout(resolve, ms));
}

/** The view factory bound to one registry (a notebook's, a console's, or the page's own). */
export function viewFactory(
  rendermime: IRenderMimeRegistry,
  page: IRenderMimeRegistry
): IRenderMime.IRendererFactory {
  return {
    safe: false,
    mimeTypes: [VIEW_MIME],
    defaultRank: VIEW_RANK,
    createRenderer: () => new ViewRenderer(rendermime, page)
  };
}

/** Registers the view renderer on the page and on every notebook and console. */
export const viewPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nb-mlops:view',
  description: 'Shows nb-mlops results as widgets, or as their static HTML where widgets cannot render.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker, IConsoleTracker],
  activate: (
    _app: JupyterFrontEnd,
    page: IRenderMimeRegistry,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null
  ) => {
    const bind = (rendermime: IRenderMimeRegistry) =>
      rendermime.addFactory(viewFactory(rendermime, page), VIEW_RANK);
    bind(page); // outputs outside a notebook or console: no widget manager, the static form
    notebooks?.forEach(panel => bind(panel.content.rendermime));
    notebooks?.widgetAdded.connect((_, panel) => bind(panel.content.rendermime));
    consoles?.forEach(panel => bind(panel.console.rendermime));
    consoles?.widgetAdded.connect((_, panel) => bind(panel.console.rendermime));
  }
};
