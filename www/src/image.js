// Every image input the API takes, as what the worker reads: an encoded file's bytes (decoded in
// wasm, EXIF orientation applied), or the RGBA pixels the browser already decoded.

const ACCEPTED = 'a Blob, File, ArrayBuffer, Uint8Array, ImageBitmap, ImageData, HTMLImageElement, '
  + 'HTMLCanvasElement or OffscreenCanvas';

/** The bytes of a Blob, File, ArrayBuffer or typed array; null for anything else. */
export async function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  return null;
}

const is = (input, name) => typeof globalThis[name] === 'function' && input instanceof globalThis[name];

/** Draws an image source (bitmap, <img>, canvas) and reads its pixels back. */
async function pixelsOf(source) {
  if (is(source, 'HTMLImageElement')) {
    if (!source.complete || !source.naturalWidth) await source.decode();
  }
  const width = source.naturalWidth || source.width;
  const height = source.naturalHeight || source.height;
  if (!width || !height) throw new TypeError(`the image is ${width} x ${height} pixels (not loaded, or empty)`);
  const canvas = typeof OffscreenCanvas === 'function'
    ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(source, 0, 0, width, height);
  try {
    return context.getImageData(0, 0, width, height);
  } catch (error) {
    throw new TypeError(`cannot read the image's pixels (${error.message}); a cross-origin image needs CORS`);
  }
}

/**
 * An image ready for the worker: `message()` gives a fresh copy each time (the copy is
 * transferred, so a retry has its own).
 */
export async function toImage(input) {
  const bytes = await toBytes(input);
  if (bytes) {
    return {
      message() {
        const copy = bytes.slice();
        return { value: copy, transfer: [copy.buffer] };
      },
    };
  }
  let pixels;
  if (is(input, 'ImageData')) pixels = input;
  else if (['ImageBitmap', 'HTMLImageElement', 'HTMLCanvasElement', 'OffscreenCanvas', 'SVGImageElement', 'VideoFrame']
    .some((name) => is(input, name))) pixels = await pixelsOf(input);
  else throw new TypeError(`expected ${ACCEPTED}`);
  const { data, width, height } = pixels;
  return {
    message() {
      const rgba = new Uint8ClampedArray(data);
      return { value: { rgba, width, height }, transfer: [rgba.buffer] };
    },
  };
}
