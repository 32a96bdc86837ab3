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

/** An error the worker reported, as the page sees it: a lost instance is a `WorkerLost`, and
 * names the caller may test ('BundleError', 'OutOfMemoryError') are kept. */
function workerError(message, name, lost) {
  const error = lost ? new WorkerLost(message) : new Error(message);
  if (name && name !== 'Error') error.name = name;
  return error;
}

function spawnWorker(workerUrl) {
  // The literal `new Worker(new URL(...), ...)` form is the one bundlers recognize and copy.
  return workerUrl
    ? new Worker(workerUrl, { type: 'module' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
}

/** One thread per core, up to 16: the products split into a range of columns per thread. */
function defaultThreads() {
  return Math.min(16, Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 1));
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
  /** How to get the bundle's bytes again, for a fresh worker after a lost GPU or a trap. */
  #reload = null;
  /** Task changes since load, replayed on a replacement worker. */
  #taskChanges = [];
  #disposed = false;
  /** A restart under way, shared by the calls that saw the worker go. */
  #restarting = null;

  constructor(worker, options) {
    this.#options = options;
    this.#attach(worker);
  }

  #attach(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data: { id, result, error, name, lost, fatal } }) => {
      if (fatal !== undefined) return this.#failAll(workerError(fatal, name, true));
      const call = this.#pending.get(id);
      this.#pending.delete(id);
      if (error === undefined) call.resolve(result);
      else call.reject(workerError(error, name, lost));
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
   * ('bytes'). A cached copy that fails its SHA-256 is dropped and downloaded again. Options:
   * `backend` ('auto' | 'webgpu' | 'cpu'), `onProgress`, `thresholds` (defaults for `screen`),
   * `wasmUrl` and `workerUrl` (where the module's .wasm and worker load from, when not beside
   * this file), `threads` (the CPU path's threads: by default one per core, at most 16; they
   * need a cross-origin isolated page, else one; `clf.threads` says how many run), `warmUp`
   * (WebGPU only, default true: every stage runs once on a blank meme during the load, so that
   * the first meme classified does not wait while the GPU's kernels compile; `clf.warmUpMs`
   * says how long that took, 0 where nothing ran).
   */
  static async load(source, { onProgress, backend = 'auto', thresholds, wasmUrl, workerUrl, threads = defaultThreads(), warmUp = true } = {}) {
    const url = typeof source === 'string' || source instanceof URL ? String(source) : null;
    let fetched;
    if (url) {
      fetched = await fetchBundle(url, onProgress);
    } else {
      const given = await toBytes(source);
      if (!given) throw new TypeError('a bundle is a URL, Blob, ArrayBuffer or Uint8Array');
      fetched = { bytes: given.slice(), source: 'bytes', remember: async () => false };
    }
    // How to get the bytes again for a fresh worker (a lost GPU, a trap): a URL's bundle is in
    // the Cache API by then, given bytes are kept as a Blob (the browser may hold it on disk).
    let reload;
    if (url) {
      reload = async () => (await fetchBundle(url)).bytes;
    } else {
      const blob = new Blob([fetched.bytes]);
      reload = async () => new Uint8Array(await blob.arrayBuffer());
    }
    const options = { wasmUrl: wasmUrl && String(wasmUrl), workerUrl, threads, warmUp: Boolean(warmUp) };
    const clf = new MemeClassifier(spawnWorker(workerUrl), options);
    const loadIn = ({ bytes }) => clf.#loadInWorker(bytes, backend);
    try {
      let info;
      try {
        info = await loadIn(fetched);
      } catch (error) {
        if (backend === 'auto' && error instanceof WorkerLost && error.name !== 'OutOfMemoryError') {
          // WebGPU failed during the load (a lost device, a kernel the browser refused): the
          // CPU path in a fresh worker, as a failure after the load would also do.
          const reason = `WebGPU failed while loading (${error.message})`;
          console.warn(`memeclip: ${reason}; using the CPU`);
          clf.#reload = reload;
          info = await clf.#restartOnCpu(reason);
        } else {
          if (fetched.source !== 'cache' || error.name !== 'BundleError') throw error;
          // Wrong bytes under the right key (a damaged disk, an extension): dropped, fetched anew.
          await fetched.forget();
          fetched = await fetchBundle(url, onProgress);
          info = await loadIn(fetched);
        }
      }
      clf.cached = await fetched.remember();
      clf.backend = info.backend;
      clf.threads = info.threads;
      clf.warmUpMs = info.warmUpMs;
      clf.source = fetched.source;
      clf.#setTasks(info.tasks);
      clf.hasOcr = info.hasOcr;
      clf.#thresholds = mergeThresholds(DEFAULT_THRESHOLDS, thresholds, clf.tasks, true);
      clf.#reload = reload;
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

  /**
   * After a lost worker, a fresh one on the CPU with the same tasks. A lost GPU runs `op` once
   * more there; a trap on the CPU (no memory, a bug) fails this call, and the fresh instance
   * serves the next ones, since the same input would trap again.
   */
  async #withRetry(op) {
    try {
      return await op();
    } catch (error) {
      if (!(error instanceof WorkerLost) || !this.#reload || this.#disposed) throw error;
      const onGpu = this.backend === 'webgpu';
      this.#restarting ??= this.#restartOnCpu(onGpu ? 'the GPU device was lost' : error.message)
        .finally(() => (this.#restarting = null));
      await this.#restarting;
      if (onGpu) return this.#withRetry(op);
      throw error;
    }
  }

  /** A fresh worker (a fresh wasm instance) with the bundle on the CPU and the same tasks. */
  async #restartOnCpu(reason) {
    const bytes = await this.#reload();
    this.#worker.terminate();
    this.#failAll(new Error(`the classifier restarted: ${reason}`));
    this.#attach(spawnWorker(this.#options.workerUrl));
    const info = await this.#loadInWorker(bytes, 'cpu');
    for (const { op, args } of this.#taskChanges) await this.#call(op, args);
    this.backend = 'cpu';
    this.threads = info.threads;
    return info;
  }

  /** The bundle's bytes (handed over, not copied) into the current worker. */
  #loadInWorker(bytes, backend) {
    const { wasmUrl, threads, warmUp } = this.#options;
    return this.#call('load', { bytes, backend, wasmUrl, threads, warmUp }, [bytes.buffer]);
  }

  /** `{ wasm }`: the worker's wasm memory in bytes. */
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
