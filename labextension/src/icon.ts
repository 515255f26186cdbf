import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 4a8 8 0 0 1 7.4 5H17v2h6V5h-2v2.3A10 10 0 0 0 2.05 11h2.02A8 8 0 0 1 12 4z"/>
    <path d="M12 20a8 8 0 0 1-7.4-5H7v-2H1v6h2v-2.3A10 10 0 0 0 21.95 13h-2.02A8 8 0 0 1 12 20z"/>
    <circle cx="12" cy="12" r="3"/>
  </g>
</svg>`;

/** The sidebar tab icon: two arrows around a stored artifact. */
export const reuseIcon = new LabIcon({ name: 'collab-reuse:reuse', svgstr: svg });
