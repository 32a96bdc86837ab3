// Types of memeclip's JS API (memeclip.js).

/** Every image the API takes. Files and bytes are decoded in wasm (EXIF orientation applied);
 * the others are drawn by the browser and read back as pixels. */
export type ImageInput =
  | Blob
  | File
  | ArrayBuffer
  | ArrayBufferView
  | ImageBitmap
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas;

export type Backend = 'webgpu' | 'cpu';
export type TextSource = 'typed' | 'ocr' | 'none';
export type Decision = 'allow' | 'review' | 'block';

export interface TaskInfo {
  name: string;
  /** `memeclip`: a trained MemeCLIP head; `zero-shot`: CLIP against class prompts. */
  kind: 'memeclip' | 'zero-shot';
  labels: string[];
}

export interface TaskResult {
  kind: 'memeclip' | 'zero-shot';
  labels: string[];
  /** One probability per label, summing to 1. */
  probs: number[];
  predicted: string;
}

export interface Timings {
  preprocess: number;
  image: number;
  text: number;
  head: number;
  /** Present when the text was read from the image. */
  ocr?: number;
}

export interface Classification {
  /** Keyed by task name, in the bundle's order (then tasks added at run time). */
  tasks: Record<string, TaskResult>;
  /** The text classified: as given, or as read from the image. */
  text: string;
  text_source: TextSource;
  timings_ms: Timings;
}

/** Per label: from which probability a meme goes to review, and from which it is blocked. */
export interface Limit {
  review?: number;
  block?: number;
}

/** `{ task: { label: { review, block } } }`; `null` for a task turns its thresholds off. */
export type Thresholds = Record<string, Record<string, Limit> | null>;

export interface Reason {
  task: string;
  label: string;
  prob: number;
  level: 'review' | 'block';
}

export interface Screening extends Classification {
  decision: Decision;
  /** What reached a threshold, blocks first, then by probability. */
  reasons: Reason[];
}

export interface OcrLine {
  text: string;
  confidence: number;
  /** `[x0, y0, x1, y1]` in the image's pixels. */
  box: [number, number, number, number];
}

export interface OcrText {
  text: string;
  lines: OcrLine[];
}

export interface Progress {
  loaded: number;
  total: number;
  source?: 'cache';
}

export interface LoadOptions {
  /** Default 'auto': WebGPU where the browser has an adapter, else the CPU. */
  backend?: 'auto' | Backend;
  onProgress?: (progress: Progress) => void;
  /** Thresholds for `screen`, replacing `DEFAULT_THRESHOLDS` for the tasks they name. */
  thresholds?: Thresholds;
  /** Where the .wasm module loads from (default: beside memeclip.js). */
  wasmUrl?: string | URL;
  /** Where the worker script loads from (default: beside memeclip.js). */
  workerUrl?: string | URL;
  /**
   * Threads for the CPU path (default: one per core, at most 16). More than one needs a
   * cross-origin isolated page (COOP `same-origin`, COEP `require-corp`) and the threaded module
   * in `threads/` beside memeclip.js; otherwise one thread runs. WebGPU ignores it.
   */
  threads?: number;
  /**
   * WebGPU only (default true): run every stage once on a blank meme during the load, so that
   * the first meme classified does not wait while the GPU compiles its kernels.
   */
  warmUp?: boolean;
}

export type BatchItem = ImageInput | { image: ImageInput; text?: string | null };
export type BatchResult = Classification | { error: string };

export interface BatchOptions {
  /** Memes per pass through the towers (default 4). */
  concurrency?: number;
  /** Stops the queue; the call then rejects with an AbortError. */
  signal?: AbortSignal;
  onItem?: (result: BatchResult, index: number) => void;
}

/** Block from P(Harmful Meme) >= 0.8, review from 0.5, for `hate` and `harmful`. */
export const DEFAULT_THRESHOLDS: Readonly<Thresholds>;

export class MemeClassifier {
  /**
   * A bundle from a URL (cached by the browser after the first load; a damaged cached copy is
   * downloaded again) or its bytes. Rejects with an error named 'BundleError' for a bundle that
   * fails its checks and 'OutOfMemoryError' where the browser will not give the memory it needs.
   */
  static load(source: string | URL | Blob | ArrayBuffer | Uint8Array, options?: LoadOptions): Promise<MemeClassifier>;
  /** Forgets every cached bundle. */
  static clearCache(): Promise<void>;

  readonly backend: Backend;
  /** The threads the CPU path computes on (1 on WebGPU). */
  readonly threads: number;
  /** How long the load's WebGPU warm-up took in ms (0 on the CPU path or with `warmUp: false`). */
  readonly warmUpMs: number;
  /** Where the bundle came from this time. */
  readonly source: 'cache' | 'network' | 'bytes';
  /** Whether the browser's cache holds the bundle now (false where it refused it). */
  readonly cached: boolean;
  readonly tasks: TaskInfo[];
  /** Whether the bundle reads a meme's text itself. */
  readonly hasOcr: boolean;

  /** Without `text` (undefined or null) the text is read from the image where the bundle has OCR. */
  classify(image: ImageInput, text?: string | null): Promise<Classification>;
  screen(image: ImageInput, options?: { text?: string | null; thresholds?: Thresholds }): Promise<Screening>;
  classifyBatch(items: BatchItem[], options?: BatchOptions): Promise<BatchResult[]>;
  readText(image: ImageInput): Promise<OcrText>;
  /** `prompt` marks the label with `{}` (default 'a photo of a {}.'). */
  addZeroShotTask(name: string, labels: string[], options?: { prompt?: string }): Promise<TaskInfo[]>;
  removeTask(name: string): Promise<TaskInfo[]>;
  /** The worker's wasm memory in bytes. */
  memoryUsage(): Promise<{ wasm: number }>;
  /** Ends the worker and frees its wasm memory. */
  dispose(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Kept for callers that `await init()`; loading happens in `MemeClassifier.load`. */
export default function init(): Promise<void>;
