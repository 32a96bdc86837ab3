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

const CACHE = 'memeclip-bundles';

/** The payload SHA-256 a bundle's header records (see the bundle format in the README). */
function bundleHash(bytes) {
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (bytes.length < 20 || magic !== 'MEMECLIP') throw new Error('not a memeclip bundle (wrong magic bytes)');
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset + 12, 8).getBigUint64(0, true));
  if (20 + headerLen > bytes.length) throw new Error('truncated bundle: the header is cut off');
  return JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + headerLen))).payload_sha256;
}

/**
 * A bundle from the Cache API when this URL was loaded before (no request at all, so it works
 * offline), else downloaded with progress. `remember()` stores a downloaded bundle under its
 * payload hash, with the URL pointing at that hash; call it once the bundle has loaded, so a
 * damaged download is never cached. The wasm side checks the hash on every load.
 */
async function fetchBundle(url, onProgress) {
  const cache = globalThis.caches ? await caches.open(CACHE) : null;
  const pointer = new URL(url, location.href).href;
  const known = await cache?.match(pointer);
  if (known) {
    const hit = await cache.match(`/memeclip-bundle/${await known.text()}`);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      onProgress?.({ loaded: bytes.length, total: bytes.length, source: 'cache' });
      return { bytes, source: 'cache', remember: async () => {} };
    }
  }
  const bytes = await download(url, onProgress);
  const hash = bundleHash(bytes);
  // A copy taken now: the bytes themselves are handed over to the worker.
  const copy = new Blob([bytes]);
  const remember = async () => {
    if (!cache) return;
    await cache.put(`/memeclip-bundle/${hash}`, new Response(copy));
    await cache.put(pointer, new Response(hash));
  };
  return { bytes, source: 'network', remember };
}

/** An error after which the worker's wasm instance cannot be trusted: a trap or a lost GPU. */
class WorkerLost extends Error {}

function spawnWorker() {
  return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
}

export class MemeClassifier {
  #worker;
  #pending = new Map();
  #next = 0;
  /** While WebGPU runs under 'auto': how to get the bundle's bytes again, so that a lost GPU
   * device can be replaced by the CPU. */
  #reload = null;

  constructor(worker) {
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
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  /**
   * Loads a bundle from a URL (cached after the first time; `clf.source` says 'cache' or
   * 'network') or from its bytes ('bytes'); `backend`: 'auto' | 'webgpu' | 'cpu'.
   */
  static async load(source, { onProgress, backend = 'auto' } = {}) {
    let bytes;
    let from = 'bytes';
    let remember = async () => {};
    if (typeof source === 'string' || source instanceof URL) {
      ({ bytes, source: from, remember } = await fetchBundle(String(source), onProgress));
    } else {
      bytes = (await toBytes(source)).slice();
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
    const clf = new MemeClassifier(spawnWorker());
    try {
      const info = await clf.#call('load', { bytes, backend }, [bytes.buffer]);
      await remember();
      clf.backend = info.backend;
      clf.source = from;
      clf.tasks = info.tasks.map(({ name, labels }) => ({ name, labels }));
      clf.hasOcr = info.hasOcr;
      if (info.backend === 'webgpu') clf.#reload = reload;
      return clf;
    } catch (error) {
      clf.dispose();
      throw error;
    }
  }

  /**
   * `{ tasks: { name: { labels, probs, predicted } }, text, text_source, timings_ms }` for one
   * meme. Without `text` (undefined or null) the text is read from the image when the bundle
   * has OCR (`text_source: 'ocr'`, `timings_ms.ocr`); a given text is `'typed'`; no text and no
   * OCR is `'none'` (classified with an empty text).
   */
  async classify(image, text) {
    const given = text === undefined || text === null ? undefined : String(text);
    return this.#withRetry(image, (bytes) => this.#call('classify', { bytes, text: given }, [bytes.buffer]));
  }

  /** `{ text, lines: [{ text, confidence, box: [x0, y0, x1, y1] }] }`: the image's text, read
   * on the device (the bundle must have OCR: `clf.hasOcr`). */
  async readText(image) {
    return this.#withRetry(image, (bytes) => this.#call('readText', { bytes }, [bytes.buffer]));
  }

  /** Runs `op` on a copy of the image's bytes (the copy is transferred to the worker), once
   * more on the CPU if the GPU was lost. */
  async #withRetry(image, op) {
    const bytes = await toBytes(image);
    try {
      return await op(bytes.slice());
    } catch (error) {
      if (!(error instanceof WorkerLost) || !this.#reload) throw error;
      await this.#fallBackToCpu();
      return op(bytes.slice());
    }
  }

  /** A fresh worker (a fresh wasm instance) with the bundle on the CPU. */
  async #fallBackToCpu() {
    const bytes = await this.#reload();
    this.#reload = null;
    this.#worker.terminate();
    this.#failAll(new Error('the GPU device was lost'));
    this.#attach(spawnWorker());
    await this.#call('load', { bytes, backend: 'cpu' }, [bytes.buffer]);
    this.backend = 'cpu';
  }

  async classifyBatch(items) {
    const results = [];
    for (const { image, text } of items) results.push(await this.classify(image, text));
    return results;
  }

  /** Forgets every cached bundle. */
  static async clearCache() {
    if (globalThis.caches) await caches.delete(CACHE);
  }

  dispose() {
    this.#worker.terminate();
    this.#reload = null;
    this.#failAll(new Error('classifier disposed'));
  }
}
