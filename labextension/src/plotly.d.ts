// plotly.js-dist-min ships no type declarations; the renderer uses a handful of its functions.
declare module 'plotly.js-dist-min';
