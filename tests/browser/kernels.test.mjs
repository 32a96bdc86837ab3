// The CPU kernels' simd128 paths against their portable versions, bit for bit, in V8's wasm engine
// (Chromium's): tests/wasm/kernels_check.rs compiles the kernel sources alone with rustc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const source = new URL('../wasm/kernels_check.rs', import.meta.url).pathname;

test('simd128 kernels give the portable kernels\' results bit for bit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'memeclip-kernels-'));
  try {
    const wasm = join(dir, 'kernels_check.wasm');
    execFileSync('rustc', ['--edition', '2024', '--crate-type', 'cdylib', '--target', 'wasm32-unknown-unknown',
      '-C', 'opt-level=2', '-C', 'target-feature=+simd128', '-o', wasm, source], { stdio: 'inherit' });
    const { instance } = await WebAssembly.instantiate(readFileSync(wasm));
    const { check_int8, check_columns, check_quick_gelu } = instance.exports;
    const none = 0xffffffff;
    // Partial row tiles and panels, odd k, several k chunks, the real layer shapes, a NaN in a
    // row's vector part and in its tail.
    for (const [m, n, k, nanAt] of [[1, 1, 1, none], [7, 21, 1101, none], [50, 768, 768, none],
      [20, 64, 3072, none], [5, 9, 33, 40], [5, 9, 33, 65], [4, 8, 2, none]]) {
      for (const bits of [8, 12]) {
        assert.equal(check_int8(m, n, k, m + n + k, nanAt, bits), 0, `${bits}-bit weights ${m}x${n}x${k}`);
      }
    }
    // Conv inputs packed as 12-bit columns: partial panels, an odd k, a NaN in a column.
    for (const [m, n, k, nanAt] of [[24, 37, 301, none], [5, 8, 1, none], [13, 130, 96, 40], [7, 9, 27, 3]]) {
      assert.equal(check_columns(m, n, k, m + n + k, nanAt), 0, `columns ${m}x${n}x${k}`);
    }
    for (const scale of [1, 10, 100, 1e6]) {
      assert.equal(check_quick_gelu(10001, scale, scale), 0, `quick_gelu over ±${scale}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
