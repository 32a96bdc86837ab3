// The test drives this page through window.t; the package is imported by path, as a site
// without a bundler serves it.
import { MemeClassifier, DEFAULT_THRESHOLDS } from './node_modules/memeclip/memeclip.js';

const blobOf = async (url) => (await fetch(url)).blob();

window.t = {
  clf: null,
  async load(backend) {
    this.clf?.dispose();
    this.clf = await MemeClassifier.load('model.memeclip', { backend });
    return { backend: this.clf.backend, tasks: this.clf.tasks };
  },
  defaults: () => DEFAULT_THRESHOLDS,
  /** Loaded with the worker and the .wasm from another folder, and default thresholds. */
  async loadElsewhere(thresholds) {
    this.clf?.dispose();
    this.clf = await MemeClassifier.load('model.memeclip', {
      backend: 'cpu', thresholds, workerUrl: 'elsewhere/worker.js', wasmUrl: new URL('elsewhere/core.wasm', location.href),
    });
    return this.clf.tasks;
  },
  async classify(url, text) {
    return this.clf.classify(await blobOf(url), text);
  },
  async screen(url, text, thresholds) {
    return this.clf.screen(await blobOf(url), { text, thresholds });
  },
  /** The same image as every input type the API takes. */
  async inputKinds(url, text) {
    const blob = await blobOf(url);
    const buffer = await blob.arrayBuffer();
    const bitmap = await createImageBitmap(blob);
    const img = new Image();
    img.src = url; // same origin: the policy allows no blob: images
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
    offscreen.getContext('2d').drawImage(bitmap, 0, 0);
    const inputs = {
      bytes: new Uint8Array(buffer),
      arrayBuffer: buffer,
      blob,
      file: new File([blob], 'meme.png', { type: blob.type }),
      bitmap,
      imageData: canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height),
      img,
      canvas,
      offscreen,
    };
    const out = {};
    for (const [kind, input] of Object.entries(inputs)) out[kind] = await this.clf.classify(input, text);
    return out;
  },
  async batchAgainstSingles(urls) {
    const items = [];
    for (const url of urls) items.push({ image: await blobOf(url), text: 'hello' });
    const order = [];
    const results = await this.clf.classifyBatch(items, { concurrency: 3, onItem: (_, i) => order.push(i) });
    const singles = [];
    for (const item of items) singles.push(await this.clf.classify(item.image, item.text).catch((e) => ({ error: e.message })));
    return { results, singles, order };
  },
  async abortAfterFirst() {
    const blob = await blobOf('photo.png');
    const controller = new AbortController();
    let items = 0;
    const onItem = () => {
      items += 1;
      controller.abort();
    };
    const error = await this.clf.classifyBatch(Array(6).fill(blob), { concurrency: 2, signal: controller.signal, onItem })
      .then(() => null, (e) => e);
    return { name: error?.name, items };
  },
  /** Memory after each count in `at`, classifying one meme after another. */
  async memoryOver(count, at) {
    const blob = await blobOf('portrait.jpg');
    const samples = [];
    for (let i = 1; i <= count; i++) {
      await this.clf.classify(blob, `meme number ${i}`);
      if (!at.includes(i)) continue;
      globalThis.gc?.();
      samples.push({ calls: i, ...(await this.clf.memoryUsage()), pageHeap: performance.memory?.usedJSHeapSize });
    }
    return samples;
  },
  async disposeBoth() {
    const blob = await blobOf('photo.png');
    const pending = this.clf.classify(blob, 'x');
    this.clf.dispose();
    const disposed = await pending.then(() => 'resolved', (e) => e.message);
    let asyncDisposed;
    {
      const clf = await MemeClassifier.load('model.memeclip', { backend: 'cpu' });
      await clf[Symbol.asyncDispose]();
      asyncDisposed = await clf.classify(blob, 'x').then(() => 'resolved', (e) => e.message);
    }
    return { disposed, asyncDisposed };
  },
};
