// What the browser tests and the benchmark share: a static server for a folder on 127.0.0.1 and
// the Chromium flags for this closed, GPU-less machine.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join, extname } from 'node:path';
import { chromium } from 'playwright-core';

const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.json': 'application/json',
};

export const chromiumFlags = ['--headless=new', '--no-sandbox', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

/** The headers that make a page cross-origin isolated, as the threaded CPU path needs. */
export const isolationHeaders = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

/** Serves `root` on a free loopback port, with `headers` on every response (by default the
 * isolation headers, as a site serving memeclip should); resolves to the server (its port:
 * server.address().port). */
export async function serve(root, headers = isolationHeaders) {
  const server = createServer((req, res) => {
    const path = join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    try {
      const body = readFileSync(path);
      res.writeHead(200, { ...headers, 'content-type': types[extname(path)] ?? 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return server;
}

/** Debian's Chromium with the flags above and `extraFlags`. */
export function launchChromium(extraFlags = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...chromiumFlags, ...extraFlags] });
}

/** A new page of `owner` (a browser or a context) on the API test page (`index.html` at `port`),
 * once `window.memeclip` is ready. */
export async function openApiPage(owner, port) {
  const page = await owner.newPage();
  await page.goto(`http://127.0.0.1:${port}/index.html`);
  await page.waitForFunction(() => window.memeclip !== undefined);
  await page.evaluate(() => window.memeclip.ready);
  return page;
}
