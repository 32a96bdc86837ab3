// The npm package as a site installs it: the tarball from pkg-scripts/build-npm.sh (www/npm/),
// its types checked by tsc, built into a fresh Vite project and into the React example, and
// loaded by a plain HTML page under the Content-Security-Policy its README gives. Through that
// page every call of the API runs in Chromium on the CPU path and on WebGPU (SwiftShader),
// against the native `memeclip classify --bundle`. Needs www/npm/ and MEMECLIP_BIN.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync, cpSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { serve, chromiumFlags } from './serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = process.env.MEMECLIP_BIN;
const work = mkdtempSync(join(tmpdir(), 'memeclip-npm-'));
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'";
const images = ['photo.png', 'portrait.jpg', 'meme.webp'];
let tarball;
let servers = [];

/** A fresh project folder with the tarball installed by npm, as a site would. */
function project(name) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', '--no-package-lock', tarball], { cwd: dir, stdio: 'pipe' });
  return dir;
}

/** The test model and images beside a site's files. */
function addModel(dir) {
  copyFileSync(join(work, 'tiny.memeclip'), join(dir, 'model.memeclip'));
  for (const name of images) copyFileSync(join(root, 'tests', 'fixtures', 'images', name), join(dir, name));
  writeFileSync(join(dir, 'notes.txt'), 'this is not an image');
}

async function open(dir, flags = [], headers = {}) {
  const server = await serve(dir, headers);
  servers.push(server);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...chromiumFlags, ...flags] });
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => /Content Security Policy|Refused/.test(m.text()) && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(String(e)));
  return { browser, page, problems, url: `http://127.0.0.1:${server.address().port}/index.html` };
}

before(() => {
  assert.ok(bin, 'MEMECLIP_BIN must point to the native memeclip binary');
  const found = readdirSync(join(root, 'www', 'npm')).filter((f) => f.endsWith('.tgz'));
  assert.equal(found.length, 1, 'run pkg-scripts/build-npm.sh first');
  tarball = join(root, 'www', 'npm', found[0]);
  execFileSync(bin, ['export-web', '--clip', join(root, 'tests', 'fixtures', 'tiny-clip'), '--quant', 'int8',
    '--out', join(work, 'tiny.memeclip')]);
});

after(() => {
  for (const s of servers) s.close();
});

test('the tarball holds what package.json names, and its types check a typed example', () => {
  const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const dir = project('typed');
  const pkg = JSON.parse(readFileSync(join(dir, 'node_modules', 'memeclip', 'package.json'), 'utf8'));
  // A name ending in / is a folder (the threaded module): its module and glue must be in it.
  const holds = (file) => (file.endsWith('/')
    ? ['memeclip_core.js', 'memeclip_core_bg.wasm'].every((f) => listed.includes(`package/${file}${f}`))
    : listed.includes(`package/${file}`));
  for (const file of pkg.files) assert.ok(holds(file), `${file} is in the tarball`);
  for (const target of [pkg.exports['.'].default, pkg.exports['.'].types, pkg.exports['./worker.js'], pkg.exports['./memeclip_core_bg.wasm']]) {
    assert.ok(listed.includes(`package/${target.replace('./', '')}`), target);
  }
  copyFileSync(join(here, 'npm', 'typed.ts'), join(dir, 'typed.ts'));
  const tsc = join(here, 'node_modules', '.bin', 'tsc');
  const options = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler',
    '--lib', 'es2022,esnext.disposable,dom', 'typed.ts'];
  execFileSync(tsc, options, { cwd: dir, stdio: 'pipe' });
  // And a misuse is caught: the checker is really reading the declarations.
  writeFileSync(join(dir, 'wrong.ts'), "import { MemeClassifier } from 'memeclip';\nconst c: MemeClassifier = null!;\nc.screen(42);\n");
  assert.throws(() => execFileSync(tsc, [...options.slice(0, -1), 'wrong.ts'], { cwd: dir, stdio: 'pipe' }));
});

test('a fresh Vite project builds with the package and screens a meme in Chromium', async () => {
  const dir = project('vite-site');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="/main.js"></script>');
  writeFileSync(join(dir, 'main.js'), `import { MemeClassifier } from 'memeclip';
window.run = async () => {
  const clf = await MemeClassifier.load('model.memeclip', { backend: 'cpu' });
  const verdict = await clf.screen(await (await fetch('photo.png')).blob(), { text: 'hello' });
  clf.dispose();
  return verdict;
};`);
  await build({ root: dir, logLevel: 'warn', build: { outDir: join(dir, 'dist') } });
  const dist = join(dir, 'dist');
  const assets = readdirSync(join(dist, 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the .wasm was copied: ${assets}`);
  addModel(dist);
  const { browser, page, problems, url } = await open(dist);
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.run);
    const verdict = await page.evaluate(() => window.run());
    assert.ok(['allow', 'review', 'block'].includes(verdict.decision));
    assert.deepEqual(Object.keys(verdict.tasks), ['hate', 'target', 'stance', 'humour']);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the React example builds against the tarball and shows a decision', async () => {
  const dir = project('react-example');
  cpSync(join(root, 'www', 'examples', 'react'), dir, { recursive: true, filter: (src) => !src.endsWith('package.json') });
  for (const name of ['react', 'react-dom', 'scheduler']) symlinkSync(join(here, 'node_modules', name), join(dir, 'node_modules', name));
  await build({ root: dir, logLevel: 'warn', configFile: join(dir, 'vite.config.js'), build: { outDir: join(dir, 'dist') } });
  const dist = join(dir, 'dist');
  addModel(dist);
  const { browser, page, problems, url } = await open(dist);
  try {
    await page.goto(url);
    await page.waitForSelector('input[type=file]', { timeout: 60000 });
    await page.setInputFiles('input[type=file]', join(dist, 'photo.png'));
    await page.waitForSelector('#decision', { timeout: 60000 });
    assert.match(await page.getAttribute('#decision', 'data-decision'), /^(allow|review|block)$/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

/** The plain page: the package's folder served as it is installed, no bundler, under CSP. */
function plainSite() {
  const dir = project('plain-site');
  copyFileSync(join(here, 'npm', 'plain.html'), join(dir, 'index.html'));
  copyFileSync(join(here, 'npm', 'plain.js'), join(dir, 'plain.js'));
  addModel(dir);
  return dir;
}

const native = (args) => JSON.parse(execFileSync(bin, ['classify', '--bundle', join(work, 'tiny.memeclip'), ...args, '--json']));

function close(a, b, tol, what) {
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= tol, `${what}: ${x} vs ${b[i]}`));
}

async function exerciseEveryCall(page, backend) {
  const info = await page.evaluate((b) => window.t.load(b), backend);
  assert.equal(info.backend, backend);
  const dir = join(work, 'plain-site');

  // Every input type gives the same probabilities as the file's bytes.
  const kinds = await page.evaluate(() => window.t.inputKinds('photo.png', 'hello'));
  const ref = kinds.bytes;
  for (const [kind, result] of Object.entries(kinds)) {
    for (const task of Object.keys(ref.tasks)) close(result.tasks[task].probs, ref.tasks[task].probs, 1e-3, `${kind} ${task}`);
  }
  assert.deepEqual(Object.keys(kinds).sort(), ['arrayBuffer', 'bitmap', 'blob', 'bytes', 'canvas', 'file', 'imageData', 'img', 'offscreen'].sort());

  // Decisions follow the thresholds.
  // The label nearest 0.5 (the tiny model's P(Harmful Meme) is near 0), with the defaults off.
  let task;
  let label;
  let p = -1;
  for (const [name, r] of Object.entries(ref.tasks)) {
    r.probs.forEach((q, i) => {
      if (Math.abs(q - 0.5) < Math.abs(p - 0.5)) [task, label, p] = [name, r.labels[i], q];
    });
  }
  assert.ok(p > 0.05 && p < 0.95, `a label with a middling probability: ${task} ${label} ${p}`);
  const screen = (thresholds) => page.evaluate(([t]) => window.t.screen('photo.png', 'hello', t), [thresholds]);
  const only = (limit) => ({ hate: null, [task]: { [label]: limit } });
  assert.equal((await screen(only({ review: p - 0.01, block: p + 0.01 }))).decision, 'review');
  assert.equal((await screen(only({ review: p + 0.01, block: p + 0.02 }))).decision, 'allow');
  const blocked = await screen(only({ block: p - 0.01 }));
  assert.equal(blocked.decision, 'block');
  assert.deepEqual(blocked.reasons.map((r) => [r.task, r.label, r.level]), [[task, label, 'block']]);
  assert.ok(Math.abs(blocked.reasons[0].prob - p) < 1e-6);
  // The defaults block from P(Harmful Meme) >= 0.8: the tiny model's photo is allowed.
  assert.equal((await screen(undefined)).decision, ref.tasks.hate.probs[1] >= 0.8 ? 'block' : ref.tasks.hate.probs[1] >= 0.5 ? 'review' : 'allow');
  const wrong = await page.evaluate(() => window.t.screen('photo.png', 'x', { hate: { Hateful: { block: 0.5 } } }).then(() => null, (e) => `${e.name}: ${e.message}`));
  assert.match(wrong, /TypeError: thresholds.hate: no label "Hateful"/);
  const defaults = await page.evaluate(() => window.t.defaults());
  assert.deepEqual(defaults.hate['Harmful Meme'], { review: 0.5, block: 0.8 });

  // A zero-shot task added at run time scores as native --labels does.
  const tasks = await page.evaluate(() => window.t.clf.addZeroShotTask('zero-shot', ['cat', 'dog', 'pizza']));
  assert.deepEqual(tasks.at(-1), { name: 'zero-shot', kind: 'zero-shot', labels: ['cat', 'dog', 'pizza'] });
  for (const image of images) {
    const web = await page.evaluate(([i]) => window.t.classify(i, 'hello'), [image]);
    const want = native(['--image', join(dir, image), '--text', 'hello', '--labels', 'cat,dog,pizza']);
    assert.deepEqual(Object.keys(web.tasks), Object.keys(want.tasks));
    close(web.tasks['zero-shot'].probs, want.tasks['zero-shot'].probs, 1e-3, `${image} zero-shot`);
  }
  const custom = await page.evaluate(() => window.t.clf.addZeroShotTask('mood', ['happy', 'sad'], { prompt: 'a meme that feels {}' }));
  assert.equal(custom.length, 6);
  assert.match(await page.evaluate(() => window.t.clf.addZeroShotTask('mood', ['a', 'b']).then(() => '', (e) => e.message)), /taken/);
  assert.match(await page.evaluate(() => window.t.clf.addZeroShotTask('x', ['a', 'b'], { prompt: 'no slot' }).then(() => '', (e) => e.message)), /no \{\}/);
  await page.evaluate(() => window.t.clf.removeTask('mood'));
  await page.evaluate(() => window.t.clf.removeTask('zero-shot'));
  assert.match(await page.evaluate(() => window.t.clf.removeTask('zero-shot').then(() => '', (e) => e.message)), /no task named/);
  assert.equal((await page.evaluate(() => window.t.clf.tasks)).length, 4);

  // A batch equals one-by-one, in order, with a failed item in its place.
  const batch = await page.evaluate(() => window.t.batchAgainstSingles(['photo.png', 'notes.txt', 'portrait.jpg', 'meme.webp', 'photo.png']));
  assert.match(batch.results[1].error, /not a recognized image/);
  assert.deepEqual(batch.order, [0, 1, 2, 3, 4]);
  for (const i of [0, 2, 3, 4]) {
    for (const task of Object.keys(batch.singles[i].tasks)) close(batch.results[i].tasks[task].probs, batch.singles[i].tasks[task].probs, 1e-4, `batch ${i} ${task}`);
  }
  // Aborted after the first pass: the queue stops and the call rejects with an AbortError.
  const aborted = await page.evaluate(() => window.t.abortAfterFirst());
  assert.deepEqual(aborted, { name: 'AbortError', items: 2 });
  const again = await page.evaluate(() => window.t.classify('photo.png', 'hello'));
  close(again.tasks.hate.probs, ref.tasks.hate.probs, 1e-6, 'after the abort');
  return page;
}

test('plain HTML under the README CSP: every call on the CPU path, memory flat over 300 calls', async () => {
  const dir = plainSite();
  const { browser, page, problems, url } = await open(dir, ['--js-flags=--expose-gc'], { 'content-security-policy': CSP });
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.t);
    await exerciseEveryCall(page, 'cpu');
    // workerUrl and wasmUrl: the files come from where they say; load's thresholds apply.
    const requests = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    const pkg = join(dir, 'node_modules', 'memeclip');
    mkdirSync(join(dir, 'elsewhere'), { recursive: true });
    for (const f of ['worker.js', 'memeclip_core.js']) copyFileSync(join(pkg, f), join(dir, 'elsewhere', f));
    copyFileSync(join(pkg, 'memeclip_core_bg.wasm'), join(dir, 'elsewhere', 'core.wasm'));
    await page.evaluate(() => window.t.loadElsewhere({ hate: { 'Benign Meme': { block: 0 } } }));
    assert.ok(requests.includes('/elsewhere/worker.js') && requests.includes('/elsewhere/core.wasm'), requests.join(' '));
    assert.ok(!requests.some((r) => r.endsWith('memeclip_core_bg.wasm')), requests.join(' '));
    assert.equal((await page.evaluate(() => window.t.screen('photo.png', 'hello'))).decision, 'block');
    const samples = await page.evaluate(() => window.t.memoryOver(300, [10, 300]));
    console.log(`memory (CPU path): ${JSON.stringify(samples)}`);
    const [at10, at300] = samples;
    assert.ok(at300.wasm <= at10.wasm * 1.05, `wasm memory grew: ${at10.wasm} -> ${at300.wasm}`);
    // The page's heap after a full collection; Chromium does not report a worker's.
    assert.ok(at300.pageHeap < at10.pageHeap + 1e6, `page JS heap grew: ${at10.pageHeap} -> ${at300.pageHeap}`);
    // dispose() ends the worker; asyncDispose does the same.
    assert.equal(page.workers().length, 1);
    const after = await page.evaluate(() => window.t.disposeBoth());
    assert.deepEqual(after, { disposed: 'classifier disposed', asyncDisposed: 'classifier disposed' });
    for (let i = 0; i < 50 && page.workers().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(page.workers().length, 0, 'the workers are gone');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('plain HTML under the README CSP: every call on WebGPU (SwiftShader)', async () => {
  const dir = join(work, 'plain-site');
  const { browser, page, problems, url } = await open(dir, ['--enable-unsafe-webgpu'], { 'content-security-policy': CSP });
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.t);
    await exerciseEveryCall(page, 'webgpu');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
