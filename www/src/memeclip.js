// memeclip's JS API: a bundle loaded once, memes classified on the user's device. The wasm module
// runs in a Web Worker; this module prepares inputs, passes messages and turns probabilities
// into decisions. Types: memeclip.d.ts.

import { toBytes, toImage } from './image.js';
import { fetchBundle, clearBundleCache } from './bundle-cache.js';
import { DEFAULT_THRESHOLDS, decide, mergeThresholds } from './screen.js';

export { DEFAULT_THRESHOLDS };

/** Kept for `await init()` in callers; the worker loads the wasm module itself. */
export default async function init() {}

/** An error after which the worker's wasm instance cannot be trusted: a trap or a lost GPU. */
class WorkerLost extends Error {}

function spawnWorker(workerUrl) {
  // The literal `new Worker(new URL(...), ...)` form is the one bundlers recognize and copy.
  return workerUrl
    ? new Worker(workerUrl, { type: 'module' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
}

function abortError(signal) {
  return signal.reason instanceof Error ? signal.reason : new DOMException('the batch was aborted', 'AbortError');
}

export class MemeClassifier {
  #worker;
  #pending = new Map();
  #next = 0;
  #options;
  #thresholds;
  /** While WebGPU runs under 'auto': how to get the bundle's bytes again, so that a lost GPU
   * device can be replaced by the CPU. */
  #reload = null;
  /** Task changes since load, replayed on a replacement worker. */
  #taskChanges = [];
  #disposed = false;

  constructor(worker, options) {
    this.#options = options;
    this.#attach(worker);
  }

  #attach(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data: { id, result, error, lost } }) => {
      const call = this.#pending.get(id);
      this.#pending.delete(id);
      if (error === undefined) call.resolve(result);
      else call.reject(lost ? new WorkerLost(error) : new Error(error));
    };
    // An uncaught error inside the worker would otherwise leave every pending call waiting.
    worker.onerror = (event) => {
      event.preventDefault();
      this.#failAll(new WorkerLost(event.message || 'the classifier worker failed'));
    };
  }

  #failAll(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }

  #call(op, args, transfer = []) {
    if (this.#disposed) return Promise.reject(new Error('classifier disposed'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  /**
   * Loads a bundle from a URL (cached after the first time; `clf.source` says 'cache' or
   * 'network'; `clf.cached` whether the browser's cache holds it now) or from its bytes
   * ('bytes'). Options: `backend` ('auto' | 'webgpu' | 'cpu'),
   * `onProgress`, `thresholds` (defaults for `screen`), `wasmUrl` and `workerUrl` (where the
   * module's .wasm and worker load from, when not beside this file).
   */
  static async load(source, { onProgress, backend = 'auto', thresholds, wasmUrl, workerUrl } = {}) {
    let bytes;
    let from = 'bytes';
    let remember = async () => false;
    if (typeof source === 'string' || source instanceof URL) {
      ({ bytes, source: from, remember } = await fetchBundle(String(source), onProgress));
    } else {
      const given = await toBytes(source);
      if (!given) throw new TypeError('a bundle is a URL, Blob, ArrayBuffer or Uint8Array');
      bytes = given.slice();
    }
    // A URL's bundle is in the Cache API by then; bytes are kept as a Blob (the browser may hold
    // it on disk).
    let reload = null;
    if (backend === 'auto') {
      if (from === 'bytes') {
        const blob = new Blob([bytes]);
        reload = async () => new Uint8Array(await blob.arrayBuffer());
      } else {
        reload = async () => (await fetchBundle(String(source))).bytes;
      }
    }
    const options = { wasmUrl: wasmUrl && String(wasmUrl), workerUrl };
    const clf = new MemeClassifier(spawnWorker(workerUrl), options);
    try {
      const info = await clf.#call('load', { bytes, backend, wasmUrl: options.wasmUrl }, [bytes.buffer]);
      clf.cached = await remember();
      clf.backend = info.backend;
      clf.source = from;
      clf.#setTasks(info.tasks);
      clf.hasOcr = info.hasOcr;
      clf.#thresholds = mergeThresholds(DEFAULT_THRESHOLDS, thresholds, clf.tasks, true);
      if (info.backend === 'webgpu') clf.#reload = reload;
      return clf;
    } catch (error) {
      clf.dispose();
      throw error;
    }
  }

  #setTasks(tasks) {
    this.tasks = tasks.map(({ name, kind, labels }) => ({ name, kind, labels }));
  }

  /**
   * `{ tasks: { name: { kind, labels, probs, predicted } }, text, text_source, timings_ms }` for
   * one meme. Without `text` (undefined or null) the text is read from the image when the bundle
   * has OCR (`text_source: 'ocr'`, `timings_ms.ocr`); a given text is `'typed'`; no text and no
   * OCR is `'none'` (classified with an empty text).
   */
  async classify(image, text) {
    const [result] = await this.#classifyMany([await toImage(image)], [text]);
    if (result.error !== undefined) throw new Error(result.error);
    return result;
  }

  /**
   * A decision for one meme: `{ decision: 'allow' | 'review' | 'block', reasons: [{ task, label,
   * prob, level }], tasks, text, text_source, timings_ms }`. `thresholds` override the
   * classifier's for the tasks they name (see `DEFAULT_THRESHOLDS`).
   */
  async screen(image, { text, thresholds } = {}) {
    const limits = mergeThresholds(this.#thresholds, thresholds, this.tasks, false);
    const result = await this.classify(image, text);
    return { ...decide(result.tasks, limits), ...result };
  }

  /**
   * Several memes, in input order: items are images or `{ image, text }`. `concurrency` memes go
   * through the towers in one pass (default 4); a meme that fails is `{ error }` in its place;
   * `onItem(result, index)` follows progress; `signal` (an AbortSignal) stops the queue and
   * rejects with an AbortError.
   */
  async classifyBatch(items, { concurrency = 4, signal, onItem } = {}) {
    if (!Array.isArray(items)) throw new TypeError('classifyBatch takes an array of images or { image, text }');
    const size = Math.max(1, Math.floor(concurrency));
    const results = new Array(items.length);
    let onAbort;
    const aborted = new Promise((_, reject) => {
      onAbort = () => reject(abortError(signal));
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      await this.#runBatch(items, results, size, signal, aborted, onItem);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return results;
  }

  async #runBatch(items, results, size, signal, aborted, onItem) {
    for (let start = 0; start < items.length; start += size) {
      if (signal?.aborted) throw abortError(signal);
      const chunk = items.slice(start, start + size);
      const images = [];
      const texts = [];
      const slots = [];
      for (const [k, item] of chunk.entries()) {
        const plain = item === null || typeof item !== 'object' || !('image' in item);
        try {
          images.push(await toImage(plain ? item : item.image));
          texts.push(plain ? undefined : item.text);
          slots.push(start + k);
        } catch (error) {
          results[start + k] = { error: error.message };
        }
      }
      const done = images.length ? await Promise.race([this.#classifyMany(images, texts), aborted]) : [];
      done.forEach((result, k) => (results[slots[k]] = result));
      for (let k = start; k < start + chunk.length; k++) onItem?.(results[k], k);
    }
  }

  /** `{ text, lines: [{ text, confidence, box: [x0, y0, x1, y1] }] }`: the image's text, read
   * on the device (the bundle must have OCR: `clf.hasOcr`). */
  async readText(image) {
    const prepared = await toImage(image);
    return this.#withRetry(() => {
      const { value, transfer } = prepared.message();
      return this.#call('readText', { image: value }, transfer);
    });
  }

  /**
   * Adds a zero-shot task that every later classification scores: each label's prompt
   * (`prompt` with `{}` for the label; default 'a photo of a {}.') encoded by the bundle's own
   * text tower, against the image. Resolves to the tasks.
   */
  async addZeroShotTask(name, labels, { prompt } = {}) {
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw new TypeError('labels must be an array of strings');
    const change = { op: 'addZeroShotTask', args: { name: String(name), labels, prompt } };
    this.#setTasks(await this.#withRetry(() => this.#call(change.op, change.args)));
    this.#taskChanges.push(change);
    return this.tasks;
  }

  /** Removes a task (one of the bundle's or one added); resolves to the tasks. */
  async removeTask(name) {
    const change = { op: 'removeTask', args: { name: String(name) } };
    this.#setTasks(await this.#withRetry(() => this.#call(change.op, change.args)));
    this.#taskChanges.push(change);
    return this.tasks;
  }

  #classifyMany(images, texts) {
    return this.#withRetry(() => {
      const values = [];
      const transfer = [];
      for (const image of images) {
        const message = image.message();
        values.push(message.value);
        transfer.push(...message.transfer);
      }
      const given = texts.map((t) => (t === undefined || t === null ? undefined : String(t)));
      return this.#call('classifyBatch', { images: values, texts: given }, transfer);
    });
  }

  /** Runs `op` once more on the CPU if the GPU was lost. */
  async #withRetry(op) {
    try {
      return await op();
    } catch (error) {
      if (!(error instanceof WorkerLost) || !this.#reload) throw error;
      await this.#fallBackToCpu();
      return op();
    }
  }

  /** A fresh worker (a fresh wasm instance) with the bundle on the CPU and the same tasks. */
  async #fallBackToCpu() {
    const bytes = await this.#reload();
    this.#reload = null;
    this.#worker.terminate();
    this.#failAll(new Error('the GPU device was lost'));
    this.#attach(spawnWorker(this.#options.workerUrl));
    await this.#call('load', { bytes, backend: 'cpu', wasmUrl: this.#options.wasmUrl }, [bytes.buffer]);
    for (const { op, args } of this.#taskChanges) await this.#call(op, args);
    this.backend = 'cpu';
  }

  /** `{ wasm, jsHeap }`: the worker's wasm memory in bytes, and its JS heap where the browser
   * reports it (Chromium). */
  memoryUsage() {
    return this.#call('memoryUsage', {});
  }

  /** Forgets every cached bundle. */
  static async clearCache() {
    await clearBundleCache();
  }

  /** Ends the worker and with it the wasm memory; pending calls reject. */
  dispose() {
    this.#worker.terminate();
    this.#reload = null;
    this.#failAll(new Error('classifier disposed'));
    this.#disposed = true;
  }

  /** `await using clf = await MemeClassifier.load(...)` disposes it at the end of the block. */
  async [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    this.dispose();
  }
}
