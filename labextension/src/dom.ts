// Tiny DOM helpers shared by the panel's parts.
import type { LabIcon } from '@jupyterlab/ui-components';

/** Element with an optional class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A real <button> (focusable, Enter/Space work) with an optional icon. */
export function button(
  label: string,
  onClick: () => void,
  options: { icon?: LabIcon; className?: string; title?: string } = {}
): HTMLButtonElement {
  const node = el('button', options.className ?? 'jp-MofangPanel-button');
  node.type = 'button';
  if (options.icon) {
    node.appendChild(
      options.icon.element({
        tag: 'span',
        className: 'jp-MofangPanel-buttonIcon'
      })
    );
  }
  node.appendChild(el('span', undefined, label));
  if (options.title) {
    node.title = options.title;
  }
  node.addEventListener('click', onClick);
  return node;
}
