// OCR speed and accuracy in headless Chromium: memeclip's `readText` on the CPU path and on
// WebGPU, and tesseract.js 7 (LSTM, English, served locally) in the same run, on the rendered
// memes of tests/fixtures/ocr/accuracy. Prints ms per meme (median after one warm-up read), the
// wasm memory after the reads, and the character error rate (case and punctuation ignored, as
// tests/ocr.rs computes it).
//
//   MEMECLIP_BIN=target/release/memeclip MEMECLIP_OCR_DIR=models/ppocrv5 \
//     [THREADS=1,2] [QUANT=int8,f16] node tests/browser/bench-ocr.mjs [--no-webgpu]
//
// QUANT: the bundle encodings to read with on the CPU path (default int8). The OCR weights are
// f16 in every quantized bundle; an int8 bundle runs its dense convs on int8 products, an f16
// one on f32 products, so the two compare the kernels in the same run.
// THREADS: the CPU path once per thread count (default: the API's own choice; the test page is
// cross-origin isolated, so that is the threaded module on every core).
// Needs www/pkg/ (pkg-scripts/build-web.sh) and `npm ci` in pkg-scripts/compare (tesseract.js).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, cpSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launchChromium, openApiPage } from './serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.MEMECLIP_BIN;
const ocrDir = process.env.MEMECLIP_OCR_DIR ?? join(root, 'models', 'ppocrv5');
const withGpu = !process.argv.includes('--no-webgpu');
const accuracy = join(root, 'tests', 'fixtures', 'ocr', 'accuracy');
const truth = JSON.parse(readFileSync(join(accuracy, 'truth.json'), 'utf8'));
const names = Object.keys(truth);
const modules = join(root, 'pkg-scripts', 'compare', 'node_modules');

const site = mkdtempSync(join(tmpdir(), 'memeclip-bench-ocr-'));
cpSync(join(root, 'www', 'pkg'), join(site, 'pkg'), { recursive: true });
copyFileSync(join(root, 'tests', 'browser', 'page.html'), join(site, 'index.html'));
for (const name of readdirSync(accuracy)) copyFileSync(join(accuracy, name), join(site, name));
cpSync(join(modules, 'tesseract.js', 'dist'), join(site, 'tesseract'), { recursive: true });
cpSync(join(modules, 'tesseract.js-core'), join(site, 'tesseract-core'), { recursive: true });
cpSync(join(modules, '@tesseract.js-data', 'eng', '4.0.0_best_int'), join(site, 'tesseract-lang'), { recursive: true });
const quants = (process.env.QUANT ?? 'int8').split(',').filter(Boolean);
// The WebGPU row reads with the int8 bundle whatever QUANT says.
for (const quant of new Set([...quants, 'int8'])) {
  execFileSync(bin, ['export-web', '--clip', join(root, 'tests', 'fixtures', 'tiny-clip'),
    '--quant', quant, '--ocr', ocrDir, '--out', join(site, `ocr-${quant}.memeclip`)]);
}

const normalize = (t) => t.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim().split(/\s+/).filter(Boolean).join(' ');
function editDistance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 0; i < a.length; i++) {
    let diagonal = row[0];
    row[0] = i + 1;
    for (let j = 0; j < b.length; j++) {
      const next = Math.min(diagonal + (a[i] !== b[j]), row[j] + 1, row[j + 1] + 1);
      diagonal = row[j + 1];
      row[j + 1] = next;
    }
  }
  return row[b.length];
}
const cer = (got, want) => editDistance([...normalize(got)], [...normalize(want)]) / [...normalize(want)].length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await serve(site);
const port = server.address().port;

async function measure(extraFlags, body) {
  const b = await launchChromium(extraFlags);
  try {
    const p = await openApiPage(b, port);
    return await body(p);
  } finally {
    await b.close();
  }
}

const threadCounts = (process.env.THREADS ?? '').split(',').filter(Boolean).map(Number);

// Returns the classifier's thread count with the reads.
async function memeclip(backend, flags, threads, quant = 'int8') {
  return measure(flags, async (p) => {
    const loaded = await p.evaluate(([file, be, t]) => window.memeclip.load(file, be, t ? { threads: t } : {}),
      [`ocr-${quant}.memeclip`, backend, threads]);
    const reads = await p.evaluate(async (list) => {
      const blobs = await Promise.all(list.map(async (n) => (await fetch(n)).blob()));
      await window.memeclip.clf.readText(blobs[0]); // warm-up
      const out = [];
      for (const blob of blobs) {
        const t0 = performance.now();
        const read = await window.memeclip.clf.readText(blob);
        out.push({ ms: performance.now() - t0, text: read.text });
      }
      return { out, wasm: (await window.memeclip.clf.memoryUsage()).wasm };
    }, names);
    return { threads: loaded.threads, reads: reads.out, wasmMb: reads.wasm / 2 ** 20 };
  });
}

async function tesseract() {
  return measure([], async (p) => {
    await p.addScriptTag({ url: `http://127.0.0.1:${port}/tesseract/tesseract.min.js` });
    return p.evaluate(async (list) => {
      const base = location.origin;
      const worker = await Tesseract.createWorker('eng', 1, {
        workerPath: `${base}/tesseract/worker.min.js`, corePath: `${base}/tesseract-core/`,
        langPath: `${base}/tesseract-lang`, gzip: true, cacheMethod: 'none', workerBlobURL: false,
      });
      const blobs = await Promise.all(list.map(async (n) => (await fetch(n)).blob()));
      await worker.recognize(blobs[0]); // warm-up
      const out = [];
      for (const blob of blobs) {
        const t0 = performance.now();
        const { data } = await worker.recognize(blob);
        out.push({ ms: performance.now() - t0, text: data.text });
      }
      await worker.terminate();
      return out;
    }, names);
  });
}

const rows = [];
for (const quant of quants) {
  for (const threads of threadCounts.length ? threadCounts : [undefined]) {
    const run = await memeclip('cpu', [], threads, quant);
    const label = `memeclip, CPU path, ${quant} bundle (wasm, ${run.threads} thread${run.threads === 1 ? '' : 's'})`;
    rows.push([label, run.reads, run.wasmMb]);
  }
}
if (withGpu) {
  const run = await memeclip('webgpu', ['--enable-unsafe-webgpu']);
  rows.push(['memeclip, WebGPU (SwiftShader)', run.reads, run.wasmMb]);
}
rows.push(['tesseract.js 7 (LSTM, eng)', await tesseract()]);
server.close();

console.log(`${names.length} rendered memes (tests/fixtures/ocr/accuracy)`);
console.log('engine'.padEnd(56), 'CER'.padStart(7), 'ms/meme'.padStart(9), 'wasm MB'.padStart(9));
const summary = {};
for (const [engine, results, wasmMb] of rows) {
  const meanCer = results.reduce((s, r, i) => s + cer(r.text, truth[names[i]]), 0) / results.length;
  const ms = median(results.map((r) => r.ms));
  summary[engine] = { cer: meanCer, median_ms: ms, ...(wasmMb === undefined ? {} : { wasm_mb: wasmMb }) };
  const memory = wasmMb === undefined ? '-' : wasmMb.toFixed(0);
  console.log(engine.padEnd(56), meanCer.toFixed(4).padStart(7), ms.toFixed(0).padStart(9), memory.padStart(9));
}
console.log(JSON.stringify(summary));
