// The folder the API tests serve: the built module (www/pkg), the test page as index.html, the
// fixture images, and the tiny test model exported as a bundle by the native binary.
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { mkdtempSync, copyFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A fresh site folder; `tiny.memeclip` in it is the int8 bundle of tests/fixtures/tiny-clip. */
export function makeSite(bin) {
  if (!bin) throw new Error('MEMECLIP_BIN must point to the native memeclip binary');
  const site = mkdtempSync(join(tmpdir(), 'memeclip-web-'));
  cpSync(join(root, 'www', 'pkg'), join(site, 'pkg'), { recursive: true });
  copyFileSync(join(root, 'tests', 'browser', 'page.html'), join(site, 'index.html'));
  for (const name of ['photo.png', 'portrait.jpg', 'meme.webp']) {
    copyFileSync(join(root, 'tests', 'fixtures', 'images', name), join(site, name));
  }
  execFileSync(bin, ['export-web', '--clip', join(root, 'tests', 'fixtures', 'tiny-clip'),
    '--quant', 'int8', '--out', join(site, 'tiny.memeclip')]);
  return site;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, tail]);
}

/**
 * An RGB PNG of `width` x `height` pixels. Without `filled`, only the header is there (no pixel
 * data): a decompression bomb's first bytes. With it, every pixel is mid grey: a real image that
 * compresses to almost nothing but needs width * height * 3 bytes decoded.
 */
export function pngFile(width, height, { filled = false } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const chunks = [pngChunk('IHDR', ihdr)];
  if (filled) {
    const row = Buffer.alloc(1 + width * 3, 128);
    row[0] = 0; // no filter
    const deflate = zlib.deflateSync(Buffer.concat(Array(height).fill(row)), { level: 9 });
    chunks.push(pngChunk('IDAT', deflate));
  }
  chunks.push(pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}
