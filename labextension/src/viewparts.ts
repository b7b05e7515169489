// Small pieces shared by the panel's views: state badges and error text.
import { el } from './dom';
import { stateClass, stateLabel } from './jobformat';

/** A state as a coloured badge whose text is the state (colour is never the only cue). */
export function badge(
  state: string,
  label: string = stateLabel(state)
): HTMLElement {
  const node = el('span', stateClass(state), label);
  node.setAttribute('aria-label', `State: ${label}`);
  return node;
}

/** The text of a failure, whatever was thrown. */
export function message(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
