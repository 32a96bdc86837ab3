// The JS API when things go wrong around it: wrong bytes in the Cache API, two pages loading at
// once, and a browser that will not give the memory a bundle or an image needs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serve, launchChromium, openApiPage } from './serve.mjs';
import { makeSite, pngFile, root } from './site.mjs';

const bin = process.env.MEMECLIP_BIN;
// V8's cap on a wasm memory, in 64 KiB pages: 128 MB, well above the 48 MB the tiny model needs.
const CAPPED_PAGES = 2048;
let site, server, port;

before(async () => {
  site = makeSite(bin);
  // A bundle of ViT-B/32's shapes (random weights, 157 MB): more than the capped memory holds.
  execFileSync(bin, ['export-web', '--random', 'vit-b-32', '--quant', 'int8', '--tokenizer',
    join(root, 'tests', 'fixtures', 'tiny-clip', 'tokenizer.json'), '--out', join(site, 'b32.memeclip')]);
  // 8,000 x 8,000 grey pixels, within the decoder limits: a small file that needs 192 MB decoded.
  writeFileSync(join(site, 'big.png'), pngFile(8000, 8000, { filled: true }));
  server = await serve(site);
  port = server.address().port;
});

after(() => {
  server?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

async function withPage(extraFlags, body) {
  const browser = await launchChromium(extraFlags);
  try {
    const context = await browser.newContext();
    await body(() => openApiPage(context, port));
  } finally {
    await browser.close();
  }
}

const loadIn = (page) => page.evaluate(() => window.memeclip.load('tiny.memeclip', 'cpu')
  .then((info) => ({ ...info, cached: window.memeclip.clf.cached }), (e) => ({ error: `${e.name}: ${e.message}` })));
const hateProbs = async (page) => (await page.evaluate(() => window.memeclip.classify('photo.png', 'hello'))).tasks.hate.probs;

test('wrong bytes under the right key in the Cache API are caught by the hash, dropped and downloaded again', async () => {
  await withPage([], async (open) => {
    const page = await open();
    await page.evaluate(() => window.memeclip.clearCache());
    assert.equal((await loadIn(page)).source, 'network');
    const reference = await hateProbs(page);
    // Flip one payload byte of the stored copy, keeping its key and the pointer to it.
    const damaged = await page.evaluate(async () => {
      const cache = await caches.open('memeclip-bundles');
      const keys = await cache.keys();
      const stored = keys.find((r) => new URL(r.url).pathname.startsWith('/memeclip-bundle/'));
      const bytes = new Uint8Array(await (await cache.match(stored)).arrayBuffer());
      bytes[bytes.length - 100] ^= 1;
      await cache.put(stored, new Response(bytes));
      return keys.length;
    });
    assert.equal(damaged, 2, 'the bundle and the pointer to it');

    const requests = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    const reloaded = await loadIn(page);
    assert.equal(reloaded.error, undefined, reloaded.error);
    assert.equal(reloaded.source, 'network', 'the damaged copy is not used');
    assert.equal(reloaded.cached, true);
    assert.deepEqual(requests.filter((r) => r.endsWith('.memeclip')), ['/tiny.memeclip']);
    assert.deepEqual(await hateProbs(page), reference);
    // The good bytes replaced the damaged ones: the next load is from the cache.
    assert.equal((await loadIn(page)).source, 'cache');
    assert.deepEqual(await hateProbs(page), reference);
  });
});

test('a damaged cached copy while offline: the load says the download failed, and the copy is gone', async () => {
  await withPage([], async (open) => {
    const page = await open();
    await page.evaluate(() => window.memeclip.clearCache());
    await loadIn(page);
    await page.evaluate(async () => {
      const cache = await caches.open('memeclip-bundles');
      for (const key of await cache.keys()) {
        if (new URL(key.url).pathname.startsWith('/memeclip-bundle/')) await cache.put(key, new Response('not a bundle'));
      }
    });
    await page.route('**/tiny.memeclip', (route) => route.abort('internetdisconnected'));
    const offline = await loadIn(page);
    assert.match(offline.error ?? '', /fetch/i, 'the download is what failed, and it says so');
    await page.unroute('**/tiny.memeclip');
    // Back online, the damaged copy is gone and the bundle is fetched again.
    const online = await loadIn(page);
    assert.equal(online.source, 'network', JSON.stringify(online));
  });
});

test('two pages loading the same bundle at once both work, and one good copy stays cached', async () => {
  await withPage([], async (open) => {
    const [first, second] = [await open(), await open()];
    await first.evaluate(() => window.memeclip.clearCache());
    const loads = await Promise.all([loadIn(first), loadIn(second)]);
    for (const info of loads) assert.equal(info.error, undefined, info.error);
    const [a, b] = await Promise.all([hateProbs(first), hateProbs(second)]);
    assert.deepEqual(a, b);
    const stored = await first.evaluate(async () => (await (await caches.open('memeclip-bundles')).keys()).length);
    assert.equal(stored, 2, 'one bundle and one pointer');
    const third = await open();
    assert.equal((await loadIn(third)).source, 'cache');
    assert.deepEqual(await hateProbs(third), a);
  });
});

test('a bundle larger than the memory the browser grants is an OutOfMemoryError, and the tab lives on', async () => {
  const bundleBytes = readFileSync(join(site, 'b32.memeclip')).length;
  assert.ok(bundleBytes > CAPPED_PAGES * 65536, 'the bundle is bigger than the capped memory');
  await withPage([`--js-flags=--wasm-max-mem-pages=${CAPPED_PAGES}`], async (open) => {
    const page = await open();
    const started = Date.now();
    const refused = await page.evaluate(() => window.memeclip.load('b32.memeclip', 'cpu')
      .then(() => null, (e) => ({ name: e.name, message: e.message })));
    assert.ok(refused, 'the load must fail under the cap');
    assert.equal(refused.name, 'OutOfMemoryError', refused.message);
    assert.match(refused.message, /out of memory: the browser would not give the \d+ MB more/);
    console.log(refused.message);
    assert.ok(Date.now() - started < 60000);
    // The same page then loads a bundle that fits and classifies with it.
    assert.equal((await loadIn(page)).backend, 'cpu');
    assert.equal((await hateProbs(page)).length, 2);
  });
});

test('an image too large for the granted memory fails alone: a fresh worker serves the next meme', async () => {
  await withPage([`--js-flags=--wasm-max-mem-pages=${CAPPED_PAGES}`], async (open) => {
    const page = await open();
    assert.equal((await loadIn(page)).backend, 'cpu');
    await page.evaluate(() => window.memeclip.clf.addZeroShotTask('animal', ['cat', 'dog']));
    const before = await hateProbs(page);
    const failed = await page.evaluate(() => window.memeclip.classify('big.png', 'x')
      .then(() => null, (e) => ({ name: e.name, message: e.message })));
    assert.equal(failed?.name, 'OutOfMemoryError', failed?.message);
    console.log(failed.message);
    const after = await page.evaluate(() => window.memeclip.classify('photo.png', 'hello'));
    assert.deepEqual(after.tasks.hate.probs, before);
    assert.deepEqual(Object.keys(after.tasks), ['hate', 'target', 'stance', 'humour', 'animal'], 'task changes survive the restart');
  });
});
