// The Web Worker that owns the wasm module: loading and inference run here, off the page's thread.
import init, { WasmClassifier } from './memeclip_core.js';

let classifier = null;
const ready = init();

async function hasWebGpu() {
  // wgpu panics without an adapter, so look before touching it.
  return !!(self.navigator?.gpu && (await self.navigator.gpu.requestAdapter()));
}

const handlers = {
  async load({ bytes, backend }) {
    await ready;
    classifier?.free();
    classifier = null;
    const useGpu = backend === 'webgpu' || (backend === 'auto' && (await hasWebGpu()));
    if (backend === 'webgpu' && !(await hasWebGpu())) throw new Error('WebGPU is not available in this browser');
    classifier = useGpu ? await WasmClassifier.loadWebGpu(bytes) : WasmClassifier.loadCpu(bytes);
    return { backend: classifier.backend, tasks: classifier.tasks };
  },
  async classify({ bytes, text }) {
    if (!classifier) throw new Error('no model loaded');
    return classifier.classify(bytes, text);
  },
};

// A trap (a Rust panic) leaves the wasm instance unusable, and a lost GPU device leaves the
// WebGPU classifier unusable: the API then starts a fresh worker on the CPU.
function isLost(error) {
  if (error instanceof WebAssembly.RuntimeError) return true;
  try {
    return classifier?.backend === 'webgpu' && /lost|poison|destroy/i.test(error?.message ?? '');
  } catch {
    return true;
  }
}

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    self.postMessage({ id, result: await handlers[op](args) });
  } catch (error) {
    self.postMessage({ id, error: error?.message ?? String(error), lost: isLost(error) });
  }
};
