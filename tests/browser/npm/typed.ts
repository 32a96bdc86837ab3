// A typed caller of the package: `tsc --noEmit --strict` must accept it.
import { MemeClassifier, DEFAULT_THRESHOLDS, type Screening, type BatchResult, type Thresholds } from 'memeclip';

export async function moderate(file: File, canvas: HTMLCanvasElement): Promise<string> {
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, stance: { Oppose: { review: 0.9 } } };
  await using clf = await MemeClassifier.load('/model.memeclip', { backend: 'auto', thresholds, onProgress: (p) => p.loaded / p.total });
  const verdict: Screening = await clf.screen(file, { text: null });
  const hate: number = verdict.tasks['hate'].probs[1];
  await clf.addZeroShotTask('nsfw', ['safe image', 'explicit image'], { prompt: 'a {}' });
  const controller = new AbortController();
  const results: BatchResult[] = await clf.classifyBatch([file, { image: canvas, text: 'typed' }], { concurrency: 2, signal: controller.signal });
  const failed = results.filter((r): r is { error: string } => 'error' in r).length;
  const read = await clf.readText(canvas);
  const { wasm } = await clf.memoryUsage();
  return `${verdict.decision} ${hate} ${failed} ${read.lines.length} ${clf.backend} ${clf.source} ${wasm}`;
}
