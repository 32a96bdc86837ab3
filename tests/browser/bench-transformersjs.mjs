// transformers.js (q8, its wasm backend: onnxruntime-web) on the same machine and in the same
// Chromium as bench-web.mjs: the CLIP towers alone, per item, medians. Run by
// pkg-scripts/bench-web.sh --compare-transformersjs, which prepares SITE: tjs/ (transformers.js's
// dist), ort/ (onnxruntime-web's dist) and models/clip/ (from
// pkg-scripts/make-transformersjs-model.py).
// THREADS=1,2: onnxruntime-web's thread count, a fresh browser each (default: its own choice).
// Its threads need the cross-origin isolated page the server makes.
import { chromium } from 'playwright-core';
import { serve, chromiumFlags } from './serve.mjs';

const server = await serve(process.env.SITE);
const runs = Number(process.env.RUNS ?? 3);
const threadCounts = (process.env.THREADS ?? '').split(',').filter(Boolean).map(Number);

async function benchAt(threads) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumFlags });
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(e.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/tjs/bench.html`);
  const result = await page.evaluate(async ([runs, threads]) => {
    const { env, Tensor, CLIPVisionModelWithProjection, CLIPTextModelWithProjection } = await import('./transformers.js');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = '/models/';
    env.backends.onnx.wasm.wasmPaths = '/ort/';
    if (threads) env.backends.onnx.wasm.numThreads = threads;
    const options = { dtype: 'q8', device: 'wasm' };
    let t = performance.now();
    const vision = await CLIPVisionModelWithProjection.from_pretrained('clip', options);
    const text = await CLIPTextModelWithProjection.from_pretrained('clip', options);
    const load_ms = performance.now() - t;
    // Median of `runs` timed calls after one warm-up, with fresh inputs each time.
    const median = async (call) => {
      const times = [];
      for (let i = 0; i <= runs; i++) {
        const start = performance.now();
        await call(i);
        if (i > 0) times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)];
    };
    const pixels = (i) => new Tensor('float32', Float32Array.from({ length: 3 * 224 * 224 }, (_, j) => Math.sin(i + j)), [1, 3, 224, 224]);
    const ids = (i, len) => new Tensor('int64', BigInt64Array.from({ length: len }, (_, j) =>
      BigInt(j === 0 ? 49406 : j === len - 1 ? 49407 : 1000 + ((i * 31 + j * 7) % 40000))), [1, len]);
    return {
      load_ms,
      isolated: crossOriginIsolated,
      threads: env.backends.onnx.wasm.numThreads ?? null,
      image_ms: await median((i) => vision({ pixel_values: pixels(i) })),
      text_77_tokens_ms: await median((i) => text({ input_ids: ids(i, 77) })),
      text_20_tokens_ms: await median((i) => text({ input_ids: ids(i, 20) })),
    };
  }, [runs, threads]);
  await browser.close();
  console.log(JSON.stringify({ runtime: 'transformers.js', runs, ...result }));
}

for (const threads of threadCounts.length ? threadCounts : [undefined]) await benchAt(threads);
server.close();
