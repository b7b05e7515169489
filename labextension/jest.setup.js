// jsdom has no DragEvent, but @lumino/dragdrop (loaded by @lumino/widgets)
// subclasses it at import time. Same shim as @jupyterlab/testutils uses.
if (
  typeof globalThis.MouseEvent !== 'undefined' &&
  typeof globalThis.DragEvent === 'undefined'
) {
  globalThis.DragEvent = class DragEvent extends globalThis.MouseEvent {};
}

// jsdom has no TextEncoder / TextDecoder, which the stream readers use.
if (typeof globalThis.TextEncoder === 'undefined') {
  const util = require('util');
  globalThis.TextEncoder = util.TextEncoder;
  globalThis.TextDecoder = util.TextDecoder;
}
