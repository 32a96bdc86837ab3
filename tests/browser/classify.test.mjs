// The JS API (www/pkg/memeclip.js, wasm in a Web Worker) in headless Chromium, on WebGPU
// (SwiftShader) and on the CPU fallback: the same probabilities as the native
// `memeclip classify --bundle`, and clear errors for bad input. Needs www/pkg/ (from
// pkg-scripts/build-web.sh) and the native binary (MEMECLIP_BIN).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { serve, launchChromium, openApiPage } from './serve.mjs';
import { makeSite, pngFile, root } from './site.mjs';

const bin = process.env.MEMECLIP_BIN;
let site, server, browser, page, port;

async function openPage(extraFlags) {
  const b = await launchChromium(extraFlags);
  return [b, await openApiPage(b, port)];
}

before(async () => {
  site = makeSite(bin);
  const whole = readFileSync(join(site, 'tiny.memeclip'));
  writeFileSync(join(site, 'truncated.memeclip'), whole.subarray(0, whole.length - 4096));
  const tampered = Buffer.from(whole);
  tampered[tampered.length - 100] ^= 1;
  writeFileSync(join(site, 'tampered.memeclip'), tampered);
  writeFileSync(join(site, 'huge.png'), pngFile(100000, 100000));
  writeFileSync(join(site, 'notes.txt'), 'this is not an image');
  // The product page under /app/, as pkg-scripts/demo.sh serves it with the test model.
  cpSync(join(root, 'www'), join(site, 'app'), { recursive: true });
  copyFileSync(join(site, 'tiny.memeclip'), join(site, 'app', 'model.memeclip'));
  writeFileSync(join(site, 'app', 'model-info.json'), JSON.stringify({ file: 'model.memeclip', test_model: true }));

  server = await serve(site);
  port = server.address().port;
  [browser, page] = await openPage([]);
});

after(async () => {
  await browser?.close();
  server?.close();
});

const native = (image, text) => JSON.parse(execFileSync(bin, ['classify', '--bundle',
  join(site, 'tiny.memeclip'), '--image', join(site, image), '--text', text, '--json']));

async function matchesNative(p) {
  for (const [image, text] of [['photo.png', 'hello'], ['portrait.jpg', 'when the code compiles 😂'], ['meme.webp', '']]) {
    const web = await p.evaluate(([i, t]) => window.memeclip.classify(i, t), [image, text]);
    const ref = native(image, text);
    // One shape on both sides: an object keyed by task, in the bundle's order.
    assert.deepEqual(Object.keys(web.tasks), Object.keys(ref.tasks));
    for (const [name, task] of Object.entries(ref.tasks)) {
      const got = web.tasks[name];
      assert.equal(got.kind, task.kind);
      assert.deepEqual(got.labels, task.labels);
      assert.equal(got.predicted, task.predicted);
      got.probs.forEach((p, i) => assert.ok(Math.abs(p - task.probs[i]) < 1e-3, `${image} ${name}: ${p} vs ${task.probs[i]}`));
    }
    for (const key of ['preprocess', 'image', 'text', 'head']) assert.equal(typeof web.timings_ms[key], 'number');
  }
}

test('without WebGPU, auto falls back to the CPU with the native results within 1e-3', async () => {
  assert.equal(await page.evaluate(() => window.memeclip.hasWebGpu()), false);
  const loaded = await page.evaluate(() => window.memeclip.load('tiny.memeclip', 'auto'));
  assert.equal(loaded.backend, 'cpu');
  assert.equal(loaded.warmUpMs, 0, 'the CPU path has no kernels to compile, so no warm-up');
  assert.deepEqual(loaded.tasks.map((t) => t.name), ['hate', 'target', 'stance', 'humour']);
  assert.deepEqual(loaded.tasks[0].labels, ['Benign Meme', 'Harmful Meme']);
  const progress = await page.evaluate(() => window.memeclip.progress);
  const last = progress.at(-1);
  assert.ok(progress.length > 0 && last.loaded === last.total && last.total > 0, JSON.stringify(last));
  await matchesNative(page);
  const refused = await page.evaluate(() => window.memeclip.load('tiny.memeclip', 'webgpu').then(() => null, (e) => String(e)));
  assert.match(refused, /WebGPU is not available/);
});

test('with WebGPU (SwiftShader): the webgpu backend gives the native results within 1e-3, warmed up or not', async () => {
  const [b, p] = await openPage(['--enable-unsafe-webgpu']);
  try {
    assert.equal(await p.evaluate(() => window.memeclip.hasWebGpu()), true);
    const loaded = await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'auto'));
    assert.equal(loaded.backend, 'webgpu');
    assert.ok(loaded.warmUpMs > 0, `the load ran its warm-up (${loaded.warmUpMs} ms)`);
    await matchesNative(p);
    // The warm-up leaves nothing behind: a load without it gives the same results.
    const cold = await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'webgpu', { warmUp: false }));
    assert.equal(cold.warmUpMs, 0);
    await matchesNative(p);
  } finally {
    await b.close();
  }
});

test('a WebGPU device lost during the load (its warm-up): auto goes on on the CPU with the native results', async () => {
  const [b, p] = await openPage(['--enable-unsafe-webgpu']);
  try {
    // The worker's GPU device is destroyed the first time wgpu records work, which the load's
    // warm-up does: a real lost device, before the load has returned.
    await p.route('**/pkg/worker.js', async (route) => {
      const response = await route.fetch();
      const hook = `{
        const record = GPUDevice.prototype.createCommandEncoder;
        GPUDevice.prototype.createCommandEncoder = function (...args) { this.destroy(); return record.apply(this, args); };
      }\n`;
      await route.fulfill({ response, body: hook + (await response.text()) });
    });
    const loaded = await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'auto'));
    assert.equal(loaded.backend, 'cpu');
    await matchesNative(p);
    // Asked for WebGPU by name, the same failure is the load's error.
    const refused = await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'webgpu').then(() => null, (e) => String(e)));
    assert.ok(refused, 'an explicit WebGPU load fails');
  } finally {
    await b.close();
  }
});

test('a WebGPU device lost mid-session: auto falls back to the CPU with the same results', async () => {
  const [b, p] = await openPage(['--enable-unsafe-webgpu']);
  try {
    assert.equal((await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'auto'))).backend, 'webgpu');
    // Tasks changed at run time come along to the CPU.
    await p.evaluate(() => window.memeclip.clf.addZeroShotTask('animal', ['cat', 'dog']));
    await p.evaluate(() => window.memeclip.clf.removeTask('humour'));
    const before = await p.evaluate(() => window.memeclip.classify('photo.png', 'hello'));
    // Destroy the worker's GPU device the next time wgpu records work: a real lost device.
    await p.workers()[0].evaluate(() => {
      const record = GPUDevice.prototype.createCommandEncoder;
      GPUDevice.prototype.createCommandEncoder = function (...args) {
        this.destroy();
        return record.apply(this, args);
      };
    });
    const after = await p.evaluate(() => window.memeclip.classify('photo.png', 'hello'));
    assert.equal(await p.evaluate(() => window.memeclip.clf.backend), 'cpu');
    assert.deepEqual(Object.keys(after.tasks), ['hate', 'target', 'stance', 'animal']);
    assert.deepEqual(Object.keys(before.tasks), Object.keys(after.tasks));
    for (const task of Object.keys(before.tasks)) {
      before.tasks[task].probs.forEach((q, i) => assert.ok(Math.abs(q - after.tasks[task].probs[i]) < 1e-3, task));
    }
  } finally {
    await b.close();
  }
});

test('after loading, classifying makes no request; a reload takes the bundle from the cache', async () => {
  const [b, p] = await openPage([]);
  try {
    const requests = [];
    p.on('request', (r) => requests.push(new URL(r.url()).pathname));
    await p.evaluate(() => window.memeclip.clearCache());
    assert.equal((await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'cpu'))).source, 'network');
    assert.deepEqual(requests.filter((r) => r.endsWith('.memeclip')), ['/tiny.memeclip']);
    await p.evaluate(() => window.memeclip.fetchBytes('photo.png'));
    requests.length = 0;
    const result = await p.evaluate(() => window.memeclip.classifyFetched('hello'));
    assert.equal(result.tasks.hate.labels.length, 2);
    assert.deepEqual(requests, [], 'classifying sends nothing');

    await p.reload();
    await p.waitForFunction(() => window.memeclip !== undefined);
    await p.evaluate(() => window.memeclip.ready);
    requests.length = 0;
    assert.equal((await p.evaluate(() => window.memeclip.load('tiny.memeclip', 'cpu'))).source, 'cache');
    assert.deepEqual(requests.filter((r) => r.endsWith('.memeclip')), [], 'no request for a cached bundle');
  } finally {
    await b.close();
  }
});

test('a bundle the Cache API refuses still loads, and says it was not cached', async () => {
  const [b, p] = await openPage([]);
  try {
    await p.evaluate(() => window.memeclip.clearCache());
    await p.evaluate(() => {
      Cache.prototype.put = () => Promise.reject(new DOMException('Unexpected internal error.', 'UnknownError'));
    });
    const loaded = await p.evaluate(async () => {
      await window.memeclip.load('tiny.memeclip', 'cpu');
      return { source: window.memeclip.clf.source, cached: window.memeclip.clf.cached };
    });
    assert.deepEqual(loaded, { source: 'network', cached: false });
    const result = await p.evaluate(() => window.memeclip.classify('photo.png', 'hello'));
    assert.equal(result.tasks.hate.probs.length, 2);
  } finally {
    await b.close();
  }
});

test('a non-image or an image over the limits is a clear error and the classifier stays usable', async () => {
  await page.evaluate(() => window.memeclip.load('tiny.memeclip'));
  const error = await page.evaluate(() => window.memeclip.classify('notes.txt', 'x').then(() => null, (e) => String(e)));
  assert.match(error, /not a recognized image/);
  const huge = await page.evaluate(() => window.memeclip.classify('huge.png', 'x').then(() => null, (e) => String(e)));
  assert.match(huge, /larger than the decoder limits/);
  const after = await page.evaluate(() => window.memeclip.classify('photo.png', 'hello'));
  assert.ok(after.tasks.hate.probs.length === 2);
});

test('a truncated bundle is refused with a message that says so, and is not cached', async () => {
  for (let attempt = 0; attempt < 2; attempt++) {
    const error = await page.evaluate(() => window.memeclip.load('truncated.memeclip').then(() => null, (e) => String(e)));
    assert.match(error, /truncated/);
  }
  const cached = await page.evaluate(async () => !!(await (await caches.open('memeclip-bundles')).match('truncated.memeclip')));
  assert.equal(cached, false);
  const mismatch = await page.evaluate(() => window.memeclip.load('tampered.memeclip').then(() => null, (e) => String(e)));
  assert.match(mismatch, /SHA-256 mismatch/);
  // The page keeps working with a good bundle.
  assert.equal((await page.evaluate(() => window.memeclip.load('tiny.memeclip', 'cpu'))).backend, 'cpu');
});

test('the page classifies memes dropped on it (a real drop event), with no CSP violation', async () => {
  const b = await launchChromium();
  try {
    const p = await b.newPage({ viewport: { width: 390, height: 844 } });
    const messages = [];
    p.on('console', (m) => messages.push(m.text()));
    await p.goto(`http://127.0.0.1:${port}/app/index.html`);
    await p.waitForFunction(() => document.body.dataset.ready !== undefined, null, { timeout: 60000 });
    assert.equal(await p.evaluate(() => document.body.dataset.ready), 'cpu');
    assert.equal(await p.isVisible('#banner'), true, 'the test model is marked as such');
    const dataTransfer = await p.evaluateHandle(async () => {
      const dt = new DataTransfer();
      for (const name of ['photo.png', 'meme.webp']) {
        const bytes = await (await fetch(`../${name}`)).arrayBuffer();
        dt.items.add(new File([bytes], name, { type: name.endsWith('png') ? 'image/png' : 'image/webp' }));
      }
      return dt;
    });
    await p.dispatchEvent('#drop', 'drop', { dataTransfer });
    await p.waitForFunction(() => document.querySelectorAll('.card[data-done="true"]').length === 2, null, { timeout: 60000 });
    assert.equal(await p.locator('.card').first().locator('.task').count(), 4);
    await p.locator('.card input[type=text]').first().fill('when the code compiles');
    await p.waitForFunction(() => document.querySelector('.card').dataset.done === 'true');
    assert.equal(await p.isEnabled('#csv'), true);
    const shots = process.env.SCREENSHOT_DIR ?? site;
    mkdirSync(shots, { recursive: true });
    await p.screenshot({ path: join(shots, 'page.png'), fullPage: true });
    assert.deepEqual(messages.filter((m) => /Content Security Policy|Refused/.test(m)), []);
  } finally {
    await b.close();
  }
});

test('after one visit the page works offline, and classifies a pasted image', async () => {
  // Its own origin (port), so the service worker and caches start empty.
  const origin = await serve(site);
  const b = await launchChromium();
  try {
    const p = await b.newPage();
    await p.goto(`http://127.0.0.1:${origin.address().port}/app/index.html`);
    await p.waitForFunction(() => document.body.dataset.ready !== undefined, null, { timeout: 60000 });
    await p.evaluate(() => Promise.race([navigator.serviceWorker.ready,
      new Promise((_, fail) => setTimeout(() => fail(new Error('no service worker became active')), 30000))]));
    origin.closeAllConnections();
    await new Promise((done) => origin.close(done));

    await p.reload();
    await p.waitForFunction(() => document.body.dataset.ready !== undefined, null, { timeout: 60000 });
    assert.equal(await p.evaluate(() => document.body.dataset.ready), 'cpu');
    assert.match(await p.textContent('#status'), /cache/);
    const png = [...readFileSync(join(site, 'photo.png'))];
    await p.evaluate((bytes) => {
      const clipboardData = new DataTransfer();
      clipboardData.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData }));
    }, png);
    await p.waitForFunction(() => document.querySelector('.card')?.dataset.done === 'true', null, { timeout: 60000 });
    assert.equal(await p.locator('.card .task').count(), 4);
  } finally {
    await b.close();
    origin.close();
  }
});
