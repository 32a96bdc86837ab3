// Load time and per-meme latency of the JS API in headless Chromium, per backend. Run by
// pkg-scripts/bench-web.sh, which prepares SITE (www/ plus a bundle as model.memeclip).
import { chromium } from 'playwright-core';
import { serve, chromiumFlags } from './serve.mjs';

const site = process.env.SITE;
const runs = Number(process.env.RUNS ?? 3);
// BATCH=N also times N memes one by one against classifyBatch.
const batch = Number(process.env.BATCH ?? 0);
const server = await serve(site);
const url = `http://127.0.0.1:${server.address().port}/pkg/bench.html`;
const flags = chromiumFlags;

const results = [];
const backends = (process.env.BACKENDS ?? 'cpu,webgpu').split(',');
// THREADS=1,2: the CPU path once per thread count (default: the API's own choice).
const threadCounts = (process.env.THREADS ?? '').split(',').filter(Boolean).map(Number);
const runsToDo = [];
for (const backend of backends) {
  for (const threads of backend === 'cpu' && threadCounts.length ? threadCounts : [undefined]) runsToDo.push([backend, threads]);
}
for (const [backend, threads] of runsToDo) {
  const extra = backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : [];
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...flags, ...extra] });
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(e.message));
  await page.goto(url);
  const r = await page.evaluate(async ([backend, threads, runs, batch]) => {
    const { MemeClassifier } = await import('./memeclip.js');
    await MemeClassifier.clearCache();
    let t = performance.now();
    const clf = await MemeClassifier.load('../model.memeclip', { backend, ...(threads ? { threads } : {}) });
    const load_ms = performance.now() - t;
    const mb = (bytes) => Math.round(bytes / 2 ** 20 * 10) / 10;
    const wasm_mb_after_load = mb((await clf.memoryUsage()).wasm);
    let first_call_ms;
    // A fresh picture and text every time, so nothing can be reused.
    const canvas = new OffscreenCanvas(320, 240);
    const ctx = canvas.getContext('2d');
    const times = [];
    const stages = {};
    for (let i = 0; i <= runs; i++) {
      ctx.fillStyle = `hsl(${i * 47}, 70%, 50%)`;
      ctx.fillRect(0, 0, 320, 240);
      ctx.fillStyle = '#fff';
      ctx.fillText(`meme ${i}`, 20 + i, 40);
      const blob = await canvas.convertToBlob({ type: 'image/png' });
      t = performance.now();
      // 20 tokens with the start and end tokens (i < 10), as the transformers.js comparison's text.
      const out = await clf.classify(blob, `when the code compiles on try number ${i} and nobody believes it, not even the reviewer`);
      if (i === 0) {
        first_call_ms = performance.now() - t; // the first call warms up
        continue;
      }
      times.push(performance.now() - t);
      for (const [stage, ms] of Object.entries(out.timings_ms)) (stages[stage] ??= []).push(ms);
    }
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const median_stages_ms = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, median(v)]));
    // Throughput: `batch` memes one by one, then through classifyBatch in passes of 4 and of all.
    const batch_ms_per_meme = {};
    if (batch > 0) {
      const items = [];
      for (let i = 0; i < batch; i++) {
        ctx.fillStyle = `hsl(${i * 31 + 7}, 60%, 45%)`;
        ctx.fillRect(0, 0, 320, 240);
        items.push({ image: await canvas.convertToBlob({ type: 'image/png' }), text: `meme number ${i} of the batch` });
      }
      t = performance.now();
      for (const { image, text } of items) await clf.classify(image, text);
      batch_ms_per_meme.one_by_one = (performance.now() - t) / batch;
      for (const concurrency of [4, batch]) {
        t = performance.now();
        await clf.classifyBatch(items, { concurrency });
        batch_ms_per_meme[`batch_of_${concurrency}`] = (performance.now() - t) / batch;
      }
    }
    const wasm_mb_after_runs = mb((await clf.memoryUsage()).wasm);
    return { backend: clf.backend, threads: clf.threads, load_ms, first_call_ms, median_ms: median(times), median_stages_ms, batch_ms_per_meme,
      wasm_mb_after_load, wasm_mb_after_runs };
  }, [backend, threads, runs, batch]);
  results.push(r);
  console.error(`${backend}: ${JSON.stringify(r)}`);
  await browser.close();
}
server.close();
console.log(JSON.stringify({ runs, results }));
