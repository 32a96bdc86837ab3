// Bundles kept in the Cache API under their payload hash, so a returning visit loads offline.
// Caching is an optimisation: a cache that refuses a bundle (quota, private mode) never fails a
// load.

const CACHE = 'memeclip-bundles';

async function download(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const parts = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress?.({ loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/** The payload SHA-256 a bundle's header records (see the bundle format in the README). */
function bundleHash(bytes) {
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (bytes.length < 20 || magic !== 'MEMECLIP') throw new Error('not a memeclip bundle (wrong magic bytes)');
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset + 12, 8).getBigUint64(0, true));
  if (20 + headerLen > bytes.length) throw new Error('truncated bundle: the header is cut off');
  return JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + headerLen))).payload_sha256;
}

async function openCache() {
  try {
    return globalThis.caches ? await caches.open(CACHE) : null;
  } catch {
    return null; // e.g. an opaque origin
  }
}

/**
 * A bundle from the Cache API when this URL was loaded before (no request at all, so it works
 * offline), else downloaded with progress. `remember()` stores a downloaded bundle under its
 * payload hash, with the URL pointing at that hash, and resolves to whether it could; call it
 * once the bundle has loaded, so a damaged download is never cached. The wasm side checks the
 * hash on every load; `forget()` drops a cached copy that failed it.
 */
export async function fetchBundle(url, onProgress) {
  const cache = await openCache();
  const pointer = new URL(url, location.href).href;
  const known = await cache?.match(pointer);
  if (known) {
    const key = `/memeclip-bundle/${await known.text()}`;
    const hit = await cache.match(key);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      onProgress?.({ loaded: bytes.length, total: bytes.length, source: 'cache' });
      const forget = async () => {
        await cache.delete(pointer);
        await cache.delete(key);
      };
      return { bytes, source: 'cache', remember: async () => true, forget };
    }
  }
  const bytes = await download(url, onProgress);
  const hash = bundleHash(bytes);
  // A copy taken now: the bytes themselves are handed over to the worker.
  const copy = new Blob([bytes]);
  const remember = async () => {
    if (!cache) return false;
    try {
      await cache.put(`/memeclip-bundle/${hash}`, new Response(copy));
      await cache.put(pointer, new Response(hash));
      return true;
    } catch {
      return false;
    }
  };
  return { bytes, source: 'network', remember };
}

export async function clearBundleCache() {
  if (globalThis.caches) await caches.delete(CACHE);
}
