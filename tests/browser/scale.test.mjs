// MemeCLIP's own scale in the browser: a bundle of ViT-L/14's shapes (random weights, int8,
// about 440 MB) loads on the CPU path and classifies. Its memory and speed are printed by
// pkg-scripts/bench-web.sh --shape vit-l-14; this checks that it works at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { serve, launchChromium, openApiPage } from './serve.mjs';
import { makeSite, root } from './site.mjs';

const bin = process.env.MEMECLIP_BIN;
let site, server;

before(async () => {
  site = makeSite(bin);
  execFileSync(bin, ['export-web', '--random', 'vit-l-14', '--quant', 'int8', '--tokenizer',
    join(root, 'tests', 'fixtures', 'tiny-clip', 'tokenizer.json'), '--out', join(site, 'l14.memeclip')]);
  server = await serve(site);
});

after(() => {
  server?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

test('a ViT-L/14-shaped bundle loads on the CPU path and classifies a meme', async () => {
  const bundleBytes = statSync(join(site, 'l14.memeclip')).size;
  assert.ok(bundleBytes > 400e6, `an L/14 bundle is over 400 MB (${bundleBytes})`);
  const browser = await launchChromium();
  try {
    const page = await openApiPage(browser, server.address().port);
    const loaded = await page.evaluate(() => window.memeclip.load('l14.memeclip', 'cpu'));
    assert.equal(loaded.backend, 'cpu');
    const result = await page.evaluate(() => window.memeclip.classify('photo.png', 'hello'));
    const probs = result.tasks.hate.probs;
    assert.equal(probs.length, 2);
    assert.ok(Math.abs(probs[0] + probs[1] - 1) < 1e-5 && probs.every(Number.isFinite), JSON.stringify(probs));
    const { wasm } = await page.evaluate(() => window.memeclip.clf.memoryUsage());
    console.log(`L/14 bundle ${(bundleBytes / 2 ** 20).toFixed(1)} MB, wasm memory after a classify ${(wasm / 2 ** 20).toFixed(1)} MB`);
  } finally {
    await browser.close();
  }
});
