// The drag-and-drop page: memes in, per-task probability bars out, all computed in this page.
import init, { MemeClassifier } from './pkg/memeclip.js';

const $ = (id) => document.getElementById(id);
const rows = []; // { name, text, result } per meme, for the CSV
let classifier = null;

async function start() {
  await init();
  const info = await (await fetch('model-info.json')).json();
  $('banner').hidden = !info.test_model;
  classifier = await MemeClassifier.load(info.file, {
    backend: new URLSearchParams(location.search).get('backend') ?? 'auto',
    onProgress: ({ loaded, total }) => {
      $('progress').max = total || 1;
      $('progress').value = loaded;
      $('status').textContent = `Loading the model… ${(loaded / 1e6).toFixed(1)} MB`;
    },
  });
  $('progress').hidden = true;
  showBackend();
}

function showBackend() {
  $('status').textContent = `Model ready on ${classifier.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}` +
    ` (${classifier.source === 'cache' ? 'from this browser\'s cache, offline'
      : classifier.cached ? 'downloaded once, now cached' : 'downloaded; this browser would not cache it, so it downloads again next time'}).`;
  document.body.dataset.ready = classifier.backend;
}

function bars(result) {
  const box = document.createElement('div');
  for (const [task, { labels, probs, predicted }] of Object.entries(result.tasks)) {
    const section = document.createElement('div');
    section.className = 'task';
    const title = document.createElement('h3');
    title.textContent = `${task}: ${predicted}`;
    section.append(title);
    labels.forEach((label, i) => {
      const bar = document.createElement('div');
      bar.className = label === predicted ? 'bar top' : 'bar';
      const name = document.createElement('span');
      name.textContent = label;
      const track = document.createElement('span');
      track.className = 'track';
      const fill = document.createElement('span');
      fill.className = 'fill';
      fill.style.display = 'block';
      fill.style.width = `${(probs[i] * 100).toFixed(1)}%`;
      track.append(fill);
      const value = document.createElement('span');
      value.textContent = `${(probs[i] * 100).toFixed(1)}%`;
      bar.append(name, track, value);
      section.append(bar);
    });
    box.append(section);
  }
  const t = result.timings_ms;
  const meta = document.createElement('p');
  meta.className = 'meta';
  const ocr = t.ocr === undefined ? '' : `reading the text ${t.ocr.toFixed(0)} ms, `;
  meta.textContent = `${ocr}preprocess ${t.preprocess.toFixed(0)} ms, image ${t.image.toFixed(0)} ms, text ${t.text.toFixed(0)} ms, heads ${t.head.toFixed(0)} ms`;
  box.append(meta);
  return box;
}

function addMeme(file) {
  const row = { name: file.name || 'pasted image', text: '', result: null };
  rows.push(row);
  const card = document.createElement('article');
  card.className = 'card';
  const img = document.createElement('img');
  img.src = URL.createObjectURL(file);
  img.alt = row.name;
  const body = document.createElement('div');
  body.className = 'body';
  const title = document.createElement('strong');
  title.textContent = row.name;
  const text = document.createElement('input');
  text.type = 'text';
  text.placeholder = classifier.hasOcr ? 'Reading the text…' : "The meme's text (optional)";
  const out = document.createElement('div');
  out.className = 'out';
  body.append(title, text, out);
  card.append(img, body);
  $('results').prepend(card);

  let run = 0;
  // Until the text is edited, the bundle's OCR reads it from the image (and fills the field).
  let edited = false;
  const classify = async () => {
    const mine = ++run;
    out.textContent = 'Classifying…';
    try {
      const result = await classifier.classify(file, edited ? text.value : undefined);
      if (document.body.dataset.ready !== classifier.backend) showBackend(); // the GPU was lost
      if (mine !== run) return;
      if (!edited) text.value = result.text;
      text.placeholder = "The meme's text (optional)";
      card.dataset.textSource = result.text_source;
      row.text = result.text;
      row.result = result;
      out.replaceChildren(bars(result));
      card.dataset.done = 'true';
      $('csv').disabled = false;
    } catch (error) {
      out.replaceChildren(Object.assign(document.createElement('p'), { className: 'error', textContent: error.message }));
      card.dataset.done = 'error';
    }
  };
  let timer;
  text.addEventListener('input', () => {
    edited = true;
    clearTimeout(timer);
    timer = setTimeout(classify, 400);
  });
  classify();
}

function addFiles(files) {
  if (!classifier) return;
  for (const file of files) addMeme(file);
}

function exportCsv() {
  const tasks = [...new Set(rows.flatMap((r) => (r.result ? Object.keys(r.result.tasks) : [])))];
  const quote = (v) => `"${String(v).replaceAll('"', '""')}"`;
  const header = ['file', 'text', ...tasks.flatMap((t) => [`${t}`, `${t}_probability`])];
  const lines = rows.filter((r) => r.result).map((r) => [r.name, r.text, ...tasks.flatMap((t) => {
    const x = r.result.tasks[t];
    return x ? [x.predicted, Math.max(...x.probs).toFixed(4)] : ['', ''];
  })]);
  const csv = [header, ...lines].map((l) => l.map(quote).join(',')).join('\n') + '\n';
  const link = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })),
    download: 'memeclip-results.csv',
  });
  link.click();
}

const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  addFiles(e.dataTransfer.files);
});
$('files').addEventListener('change', (e) => addFiles(e.target.files));
document.addEventListener('paste', (e) => addFiles([...e.clipboardData.files]));
$('csv').addEventListener('click', exportCsv);

// The page itself works offline after the first visit (sw.js); the model has its own cache.
navigator.serviceWorker?.register('sw.js').catch((e) => console.warn(`no offline copy of the page: ${e.message}`));

start().catch((error) => {
  $('status').textContent = `Could not load the model: ${error.message}`;
  $('status').className = 'error';
  document.body.dataset.ready = 'error';
});
