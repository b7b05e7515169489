import { LabIcon } from '@jupyterlab/ui-components';

// A 3×3 cube face (mofang, 魔方, is a Rubik's cube). The SVG is inlined so no
// asset loader or `*.svg` module declaration is needed. `fill="currentColor"`
// plus the `jp-icon3` class lets the active theme recolour it.
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="currentColor">
    <rect x="3" y="3" width="5.33" height="5.33" rx="1"/>
    <rect x="9.33" y="3" width="5.33" height="5.33" rx="1"/>
    <rect x="15.67" y="3" width="5.33" height="5.33" rx="1"/>
    <rect x="3" y="9.33" width="5.33" height="5.33" rx="1"/>
    <rect x="9.33" y="9.33" width="5.33" height="5.33" rx="1"/>
    <rect x="15.67" y="9.33" width="5.33" height="5.33" rx="1"/>
    <rect x="3" y="15.67" width="5.33" height="5.33" rx="1"/>
    <rect x="9.33" y="15.67" width="5.33" height="5.33" rx="1"/>
    <rect x="15.67" y="15.67" width="5.33" height="5.33" rx="1"/>
  </g>
</svg>`;

export const mofangIcon = new LabIcon({ name: 'mofang-lab:cube', svgstr });
