// The Web Worker that owns the wasm module: loading and inference run here, off the page's thread.
// Two modules: memeclip_core.js (WebGPU and a one-thread CPU path) and threads/memeclip_core.js
// (the CPU path alone, its products split over a pool of workers), which needs a cross-origin
// isolated page (shared memory).

let classifier = null;
/** The loaded module's JS glue and its wasm exports (its memory is sampled by `memoryUsage`). */
let core = null;
let exports = null;
/** How many threads the CPU path computes on. */
let threads = 1;
/** Whether a load on WebGPU is under way: a failure then (its warm-up runs every kernel once)
 * leaves the device in doubt, so the page retries on the CPU in a fresh worker. */
let loadingOnGpu = false;

/** The plain module, from beside this file unless the page says where (`wasmUrl`). */
async function loadPlain(wasmUrl) {
  const glue = await import('./memeclip_core.js');
  exports = await (wasmUrl ? glue.default({ module_or_path: wasmUrl }) : glue.default());
  return glue;
}

/** The threaded module with a pool of `wanted` workers, or null where it cannot run (the page is
 * not cross-origin isolated, or the module or its workers fail to start); the plain module is
 * then the fallback. */
async function loadThreaded(wanted) {
  if (!(wanted > 1) || !self.crossOriginIsolated) return null;
  try {
    const glue = await import('./threads/memeclip_core.js');
    const loaded = await glue.default();
    await glue.initThreadPool(wanted);
    exports = loaded;
    return glue;
  } catch (error) {
    console.warn(`memeclip: the threaded CPU module did not start (${error?.message ?? error}); using one thread`);
    return null;
  }
}

async function hasWebGpu() {
  // wgpu panics without an adapter, so look before touching it.
  return !!(self.navigator?.gpu && (await self.navigator.gpu.requestAdapter()));
}

/** The payload's SHA-256 by the browser's WebCrypto (about 20x faster than hashing in wasm), or
 * undefined where WebCrypto is missing (an insecure context) and the wasm side hashes. */
async function payloadSha256(bytes) {
  if (!self.crypto?.subtle || bytes.length < 20) return undefined;
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset + 12, 8).getBigUint64(0, true));
  if (20 + headerLen > bytes.length) return undefined; // the wasm side reports the truncation
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.subarray(20 + headerLen)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function loaded() {
  if (!classifier) throw new Error('no model loaded');
  return classifier;
}

const handlers = {
  async load({ bytes, backend, wasmUrl, threads: wanted, warmUp }) {
    const useGpu = backend === 'webgpu' || (backend === 'auto' && (await hasWebGpu()));
    if (backend === 'webgpu' && !(await hasWebGpu())) throw new Error('WebGPU is not available in this browser');
    // The module is loaded once per worker (a second load is the retry after a damaged cached
    // bundle, on the same backend).
    core ??= (!useGpu && (await loadThreaded(wanted))) || (await loadPlain(wasmUrl));
    threads = core.computeThreads();
    classifier?.free();
    classifier = null;
    const digest = await payloadSha256(bytes);
    const { WasmClassifier } = core;
    if (useGpu) {
      // Left set if the load fails: the message handler's `isLost` reads it after this throws.
      loadingOnGpu = true;
      classifier = await WasmClassifier.loadWebGpu(bytes, digest, warmUp);
      loadingOnGpu = false;
    } else {
      classifier = WasmClassifier.loadCpu(bytes, digest);
    }
    return { backend: classifier.backend, tasks: classifier.tasks, hasOcr: classifier.hasOcr, threads, warmUpMs: classifier.warmUpMs };
  },
  async classifyBatch({ images, texts }) {
    return loaded().classifyBatch(images, texts);
  },
  async readText({ image }) {
    return loaded().readText(image);
  },
  async addZeroShotTask({ name, labels, prompt }) {
    return loaded().addZeroShotTask(name, labels, prompt);
  },
  async removeTask({ name }) {
    return loaded().removeTask(name);
  },
  async memoryUsage() {
    return { wasm: exports?.memory.buffer.byteLength ?? 0 };
  },
};

const megabytes = (bytes) => `${Math.ceil(bytes / 2 ** 20)} MB`;

/** Rust aborts with a bare `unreachable` trap when the browser will not grow its memory; the
 * allocator remembers the request it could not meet, which makes a message that says so. */
function outOfMemory(error, op) {
  if (!(error instanceof WebAssembly.RuntimeError) || !exports || !core) return null;
  const wanted = core.failedAllocationBytes();
  if (!wanted) return null;
  const held = exports.memory.buffer.byteLength;
  const hint = op === 'load' ? '; close other tabs, or use a smaller bundle (e.g. --quant int4)' : '';
  const named = new Error(`out of memory: the browser would not give the ${megabytes(wanted)} more that this needed ` +
    `(the classifier held ${megabytes(held)})${hint}`);
  named.name = 'OutOfMemoryError';
  return named;
}

// A trap (a Rust panic or no memory) leaves the wasm instance unusable, and a lost GPU device
// leaves the WebGPU classifier unusable: the API then starts a fresh worker.
function isLost(error) {
  if (error instanceof WebAssembly.RuntimeError) return true;
  if (loadingOnGpu) return error?.name !== 'BundleError';
  try {
    return classifier?.backend === 'webgpu' && /lost|poison|destroy/i.test(error?.message ?? '');
  } catch {
    return true;
  }
}

// A trap inside an async wasm call (a future polled from a microtask) is not a rejection of the
// call: it reaches here, uncaught. The page then fails every pending call with it.
let loading = false;
self.addEventListener('error', (event) => {
  const reported = outOfMemory(event.error, loading ? 'load' : null) ?? event.error;
  event.preventDefault();
  self.postMessage({ fatal: reported?.message ?? event.message, name: reported?.name });
});

self.onmessage = async ({ data: { id, op, args } }) => {
  loading = op === 'load';
  try {
    self.postMessage({ id, result: await handlers[op](args) });
  } catch (error) {
    const lost = isLost(error);
    const reported = outOfMemory(error, op) ?? error;
    self.postMessage({ id, error: reported?.message ?? String(reported), name: reported?.name, lost });
  }
};
