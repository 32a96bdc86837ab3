// memeclip's JS API: a bundle loaded once, memes classified on the user's device. The wasm module
// runs in a Web Worker; this module only passes messages.

/** Kept for `await init()` in callers; the worker loads the wasm module itself. */
export default async function init() {}

async function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  throw new TypeError('expected a Blob, File, ArrayBuffer or Uint8Array');
}

async function download(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const parts = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress?.({ loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

export class MemeClassifier {
  #worker;
  #pending = new Map();
  #next = 0;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data: { id, result, error } }) => {
      const call = this.#pending.get(id);
      this.#pending.delete(id);
      if (error !== undefined) call.reject(new Error(error));
      else call.resolve(result);
    };
  }

  #call(op, args, transfer = []) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  /** Loads a bundle from a URL or its bytes; `backend`: 'auto' | 'webgpu' | 'cpu'. */
  static async load(source, { onProgress, backend = 'auto' } = {}) {
    const bytes = typeof source === 'string' || source instanceof URL
      ? await download(String(source), onProgress)
      : (await toBytes(source)).slice();
    const clf = new MemeClassifier(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
    try {
      const info = await clf.#call('load', { bytes, backend }, [bytes.buffer]);
      clf.backend = info.backend;
      clf.tasks = info.tasks.map(({ name, labels }) => ({ name, labels }));
      return clf;
    } catch (error) {
      clf.dispose();
      throw error;
    }
  }

  /** `{ tasks: { name: { labels, probs, predicted } }, timings_ms }` for one meme. */
  async classify(image, text = '') {
    const bytes = (await toBytes(image)).slice();
    return this.#call('classify', { bytes, text: String(text) }, [bytes.buffer]);
  }

  async classifyBatch(items) {
    const results = [];
    for (const { image, text } of items) results.push(await this.classify(image, text));
    return results;
  }

  dispose() {
    this.#worker.terminate();
    for (const { reject } of this.#pending.values()) reject(new Error('classifier disposed'));
    this.#pending.clear();
  }
}
