// nb-mlops in JupyterLab 4 and Notebook 7. The package's plugins, one file each: the chart
// renderer (plotly.js loaded once per page), the widget-view wrapper with its static fallback,
// the keyboard shortcuts of the annotation widget, and the MLOps side panel with its status-bar item.
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { chartPlugin } from './chart';
import { keysPlugin } from './keys';
import { sidebarPlugin } from './sidebar';
import { viewPlugin } from './view';

const plugins: JupyterFrontEndPlugin<any>[] = [chartPlugin, viewPlugin, keysPlugin, sidebarPlugin];

export default plugins;
