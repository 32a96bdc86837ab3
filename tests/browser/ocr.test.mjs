// The bundle's OCR in headless Chromium: `classify(image)` without a text reads the text that
// the native `memeclip classify --bundle` reads, on the CPU path and on WebGPU (SwiftShader);
// `readText` gives the lines; an image without text classifies with ''. Needs www/pkg/, the
// native binary (MEMECLIP_BIN) and the OCR model (MEMECLIP_OCR_DIR, from pkg-scripts/get-ocr.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launchChromium, openApiPage } from './serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.MEMECLIP_BIN;
const ocrDir = process.env.MEMECLIP_OCR_DIR ?? join(root, 'models', 'ppocrv5');
const site = mkdtempSync(join(tmpdir(), 'memeclip-ocr-'));
const images = ['caption.png', 'card.jpg', 'blank.png'];
let server, port;

before(async () => {
  assert.ok(bin, 'MEMECLIP_BIN must point to the native memeclip binary');
  cpSync(join(root, 'www', 'pkg'), join(site, 'pkg'), { recursive: true });
  copyFileSync(join(root, 'tests', 'browser', 'page.html'), join(site, 'index.html'));
  for (const name of images) copyFileSync(join(root, 'tests', 'fixtures', 'ocr', name), join(site, name));
  execFileSync(bin, ['export-web', '--clip', join(root, 'tests', 'fixtures', 'tiny-clip'),
    '--quant', 'int8', '--ocr', ocrDir, '--out', join(site, 'ocr.memeclip')]);
  server = await serve(site);
  port = server.address().port;
});

after(() => server?.close());

const native = (image) => JSON.parse(execFileSync(bin, ['classify', '--bundle',
  join(site, 'ocr.memeclip'), '--image', join(site, image), '--json']));

async function withPage(extraFlags, body) {
  const b = await launchChromium(extraFlags);
  try {
    const p = await openApiPage(b, port);
    await body(p);
  } finally {
    await b.close();
  }
}

async function readsLikeNative(p, backend, names) {
  const loaded = await p.evaluate((b) => window.memeclip.load('ocr.memeclip', b), backend);
  assert.equal(loaded.backend, backend);
  assert.equal(await p.evaluate(() => window.memeclip.clf.hasOcr), true);
  for (const image of names) {
    const web = await p.evaluate((i) => window.memeclip.classify(i), image);
    const ref = native(image);
    assert.equal(ref.text_source, 'ocr');
    assert.equal(web.text_source, 'ocr', image);
    assert.equal(web.text, ref.text, `${backend} ${image}`);
    assert.equal(typeof web.timings_ms.ocr, 'number');
    for (const [name, task] of Object.entries(ref.tasks)) {
      web.tasks[name].probs.forEach((q, i) => assert.ok(Math.abs(q - task.probs[i]) < 1e-3, `${image} ${name}`));
    }
    console.log(`${backend} ${image}: ${JSON.stringify(web.text)}, OCR ${web.timings_ms.ocr.toFixed(0)} ms`);
  }
}

test('CPU path: classify(image) reads the native text; readText gives lines; typed text wins', async () => {
  await withPage([], async (p) => {
    await readsLikeNative(p, 'cpu', images);
    const read = await p.evaluate(async () => window.memeclip.clf.readText(await (await fetch('card.jpg')).blob()));
    assert.equal(read.text, native('card.jpg').text);
    assert.ok(read.lines.length >= 2 && read.lines.every((l) => l.box.length === 4 && l.confidence > 0.5));
    const typed = await p.evaluate(() => window.memeclip.classify('card.jpg', 'hello'));
    assert.equal(typed.text_source, 'typed');
    assert.equal(typed.text, 'hello');
    assert.equal(typed.timings_ms.ocr, undefined);
  });
});

test('WebGPU (SwiftShader): classify(image) reads the native text', async () => {
  await withPage(['--enable-unsafe-webgpu'], async (p) => {
    await readsLikeNative(p, 'webgpu', ['caption.png']);
  });
});
