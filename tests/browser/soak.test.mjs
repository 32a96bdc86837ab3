// A long run in Chromium: 1,000 classifications on the CPU path and 100 on WebGPU (SwiftShader),
// one in five of them a bad image, with the worker's wasm memory and both JS heaps (page and
// worker) sampled after a garbage collection. After the warm-up, nothing may grow. The samples are printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serve, launchChromium, openApiPage } from './serve.mjs';
import { makeSite, pngFile } from './site.mjs';

const bin = process.env.MEMECLIP_BIN;
// Longer runs: MEMECLIP_SOAK_CPU=N and MEMECLIP_SOAK_WEBGPU=N (multiples of 100 and 20).
const cpuRuns = Number(process.env.MEMECLIP_SOAK_CPU ?? 1000);
const gpuRuns = Number(process.env.MEMECLIP_SOAK_WEBGPU ?? 100);
// A heap may wander by a few hundred KB between samples (V8's own caches); a leak of even 1 KB
// per classification would add 800 KB over the CPU run's last 800.
const HEAP_SLACK = 512 * 1024;
let site, server, port;

before(async () => {
  site = makeSite(bin);
  writeFileSync(join(site, 'notes.txt'), 'this is not an image');
  writeFileSync(join(site, 'huge.png'), pngFile(100000, 100000));
  const photo = readFileSync(join(site, 'photo.png'));
  writeFileSync(join(site, 'cut.png'), photo.subarray(0, photo.length >> 1));
  server = await serve(site);
  port = server.address().port;
});

after(() => {
  server?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

/**
 * The used JS heap of a page or of the worker, after a full garbage collection, through the
 * DevTools protocol (a worker has no `performance.memory`). Workers are reached through the
 * browser's session: playwright opens sessions for pages only.
 */
async function heapMeter(browser, page) {
  const pageSession = await page.context().newCDPSession(page);
  const browserSession = await browser.newBrowserCDPSession();
  const { targetInfos } = await browserSession.send('Target.getTargets');
  // The classifier's own worker, not the threaded module's pool (blob: URLs).
  const workers = targetInfos.filter((t) => t.type === 'worker' && t.url.endsWith('/worker.js'));
  assert.equal(workers.length, 1, 'one classifier worker');
  const { sessionId } = await browserSession.send('Target.attachToTarget', { targetId: workers[0].targetId, flatten: false });
  const replies = new Map();
  let next = 0;
  browserSession.on('Target.receivedMessageFromTarget', ({ message }) => {
    const reply = JSON.parse(message);
    replies.get(reply.id)?.(reply.result);
  });
  const inWorker = (method) => new Promise((resolve) => {
    const id = ++next;
    replies.set(id, resolve);
    browserSession.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params: {} }) });
  });
  return async () => {
    await inWorker('HeapProfiler.collectGarbage');
    await pageSession.send('HeapProfiler.collectGarbage');
    return {
      workerHeap: (await inWorker('Runtime.getHeapUsage')).usedSize,
      pageHeap: (await pageSession.send('Runtime.getHeapUsage')).usedSize,
    };
  };
}

/** Runs `total` classifications in rounds of `round`, sampling memory after each round. */
async function soak(extraFlags, backend, total, round) {
  const browser = await launchChromium(extraFlags);
  try {
    const page = await openApiPage(browser, port);
    const loaded = await page.evaluate((b) => window.memeclip.load('tiny.memeclip', b), backend);
    assert.equal(loaded.backend, backend);
    await page.evaluate(async () => {
      const names = ['photo.png', 'portrait.jpg', 'meme.webp', 'notes.txt', 'huge.png', 'cut.png', 'empty'];
      window.soakInputs = await Promise.all(names.map(async (name) =>
        name === 'empty' ? new Uint8Array(0) : (await fetch(name)).blob()));
    });
    const heaps = await heapMeter(browser, page);
    const samples = [];
    const counts = { ok: 0, refused: 0 };
    for (let done = 0; done < total; done += round) {
      const got = await page.evaluate(async ([start, n]) => {
        const tally = { ok: 0, refused: 0, wrong: [] };
        for (let i = start; i < start + n; i++) {
          // Every fifth call a bad input: not an image, a decompression bomb, a cut file, no bytes.
          const bad = i % 5 === 4;
          const input = bad ? window.soakInputs[3 + ((i / 5) | 0) % 4] : window.soakInputs[i % 3];
          try {
            const result = await window.memeclip.clf.classify(input, i % 2 ? `meme number ${i}` : undefined);
            if (bad || result.tasks.hate.probs.length !== 2) tally.wrong.push(i);
            tally.ok++;
          } catch (error) {
            if (!bad) tally.wrong.push(`${i}: ${error.message}`);
            tally.refused++;
          }
        }
        return tally;
      }, [done, round]);
      assert.deepEqual(got.wrong, [], 'good inputs classify, bad ones are refused');
      counts.ok += got.ok;
      counts.refused += got.refused;
      const { wasm } = await page.evaluate(() => window.memeclip.clf.memoryUsage());
      samples.push({ done: done + round, wasm, ...(await heaps()) });
    }
    return { samples, counts };
  } finally {
    await browser.close();
  }
}

function report(name, { samples, counts }) {
  const mb = (b) => (b / 2 ** 20).toFixed(2);
  console.log(`soak ${name}: ${counts.ok} classified, ${counts.refused} bad inputs refused`);
  for (const s of samples) {
    console.log(`  after ${String(s.done).padStart(4)}: wasm ${mb(s.wasm)} MB, worker heap ${mb(s.workerHeap)} MB, page heap ${mb(s.pageHeap)} MB`);
  }
}

/** No growth from the first sample after warm-up to the last. */
function assertFlat(samples, warm) {
  const [start, end] = [samples[warm], samples.at(-1)];
  assert.equal(end.wasm, start.wasm, 'wasm memory grew after the warm-up');
  assert.ok(end.workerHeap - start.workerHeap < HEAP_SLACK, `worker heap ${start.workerHeap} -> ${end.workerHeap}`);
  assert.ok(end.pageHeap - start.pageHeap < HEAP_SLACK, `page heap ${start.pageHeap} -> ${end.pageHeap}`);
}

test(`soak: ${cpuRuns} classifications on the CPU path, a fifth of them bad images, with flat memory`, async () => {
  const run = await soak([], 'cpu', cpuRuns, 100);
  report('cpu', run);
  assert.deepEqual(run.counts, { ok: cpuRuns * 0.8, refused: cpuRuns * 0.2 });
  assertFlat(run.samples, 1);
});

test(`soak: ${gpuRuns} classifications on WebGPU (SwiftShader), a fifth of them bad images, with flat memory`, async () => {
  const run = await soak(['--enable-unsafe-webgpu'], 'webgpu', gpuRuns, 20);
  report('webgpu', run);
  assert.deepEqual(run.counts, { ok: gpuRuns * 0.8, refused: gpuRuns * 0.2 });
  assertFlat(run.samples, 1);
});
