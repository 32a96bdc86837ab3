// The threaded CPU path: on a cross-origin isolated page the API loads the threaded module and
// splits the int8 products over a pool of workers. Each output column is computed as on one
// thread, so the probabilities must equal the one-thread module's exactly. A bundle of
// ViT-B/32's shapes (random weights), since the tiny model's products are too small to split.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { serve, launchChromium, openApiPage } from './serve.mjs';
import { makeSite, root } from './site.mjs';

const bin = process.env.MEMECLIP_BIN;
let site, isolated, plain;

before(async () => {
  site = makeSite(bin);
  execFileSync(bin, ['export-web', '--random', 'vit-b-32', '--quant', 'int8', '--tokenizer',
    join(root, 'tests', 'fixtures', 'tiny-clip', 'tokenizer.json'), '--out', join(site, 'b32.memeclip')]);
  isolated = await serve(site);
  plain = await serve(site, {});
});

after(() => {
  isolated?.close();
  plain?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

/** Every task's probabilities for two memes, on a fresh page of `server` loaded with `options`. */
async function classifyOn(browser, server, options) {
  const page = await openApiPage(browser, server.address().port);
  const warnings = [];
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  const loaded = await page.evaluate((options) => window.memeclip.load('b32.memeclip', 'cpu', options), options);
  const results = [];
  for (const [image, text] of [['photo.png', 'when the build is green on the first try'], ['meme.webp', '']]) {
    const out = await page.evaluate(([image, text]) => window.memeclip.classify(image, text), [image, text]);
    results.push(Object.fromEntries(Object.entries(out.tasks).map(([task, r]) => [task, r.probs])));
  }
  const isolatedPage = await page.evaluate(() => crossOriginIsolated);
  await page.close();
  return { loaded, results, isolatedPage, warnings };
}

test('2 threads on an isolated page give the one-thread probabilities exactly', async () => {
  const browser = await launchChromium();
  try {
    const one = await classifyOn(browser, isolated, { threads: 1 });
    const two = await classifyOn(browser, isolated, { threads: 2 });
    assert.ok(two.isolatedPage, 'the test server makes the page cross-origin isolated');
    assert.equal(one.loaded.threads, 1);
    assert.equal(two.loaded.threads, 2, `the threaded module ran (warnings: ${two.warnings.join('; ')})`);
    assert.equal(two.loaded.backend, 'cpu');
    assert.deepEqual(two.results, one.results);
    assert.ok(one.results[0].hate.every(Number.isFinite));
  } finally {
    await browser.close();
  }
});

test('a page that is not cross-origin isolated runs one thread and the same numbers', async () => {
  const browser = await launchChromium();
  try {
    const reference = await classifyOn(browser, isolated, { threads: 1 });
    const notIsolated = await classifyOn(browser, plain, { threads: 2 });
    assert.equal(notIsolated.isolatedPage, false);
    assert.equal(notIsolated.loaded.threads, 1);
    assert.deepEqual(notIsolated.results, reference.results);
  } finally {
    await browser.close();
  }
});
