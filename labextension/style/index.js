// Entry point named by package.json "styleModule" (preferred by the builder
// over "style" so the CSS is bundled as a module).
import './base.css';
