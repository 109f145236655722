// nb-mlops in JupyterLab 4 and Notebook 7. The package's plugins, one file each: the chart
// renderer (plotly.js loaded once per page) and the widget-view wrapper with its static fallback.
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { chartPlugin } from './chart';
import { viewPlugin } from './view';

const plugins: JupyterFrontEndPlugin<any>[] = [chartPlugin, viewPlugin];

export default plugins;
