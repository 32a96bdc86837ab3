// The page's offline copy. The app shell (page, scripts, wasm) comes from the network when it
// answers, so a new version shows at once, and from this cache when it does not. Model bundles
// are left alone: the API keeps them in its own cache, keyed by their hash.
const SHELL = 'memeclip-shell';
const FILES = ['index.html', 'style.css', 'app.js', 'model-info.json', 'pkg/memeclip.js',
  'pkg/image.js', 'pkg/bundle-cache.js', 'pkg/screen.js', 'pkg/worker.js', 'pkg/memeclip_core.js',
  'pkg/memeclip_core_bg.wasm', 'pkg/threads/memeclip_core.js', 'pkg/threads/memeclip_core_bg.wasm'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** Stores a fresh response unless the cache already holds the same version (the wasm is large). */
async function keep(request, response) {
  const cache = await caches.open(SHELL);
  const old = await cache.match(request);
  const same = (h) => old?.headers.get(h) && old.headers.get(h) === response.headers.get(h);
  if (!(same('etag') || (same('last-modified') && same('content-length')))) {
    await cache.put(request, response.clone());
  }
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.memeclip')) return;
  event.respondWith((async () => {
    try {
      const response = await fetch(event.request);
      if (response.ok) event.waitUntil(keep(event.request, response.clone()));
      return response;
    } catch {
      const cached = await caches.match(event.request, { ignoreSearch: true });
      const page = event.request.mode === 'navigate' ? await caches.match('index.html') : undefined;
      return cached ?? page ?? Response.error();
    }
  })());
});
