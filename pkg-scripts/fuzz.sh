#!/usr/bin/env bash
# Fuzzes every parser of outside bytes (tests/fuzz/targets/) with libFuzzer, on the stable
# toolchain: the sanitizer-coverage instrumentation below is made of stable rustc options, so
# cargo-fuzz and nightly are not needed.
#   pkg-scripts/fuzz.sh [--seconds N | --minutes N] [--all-crates] [TARGET...]
# Each target first replays its kept crash inputs (tests/fuzz/regressions/TARGET/, regression
# tests), then runs N seconds (default 6) from a corpus seeded from the test fixtures. A crash, a
# panic, an input over 10 s or an allocation over 2 GB stops it: the input is saved under
# $CARGO_TARGET_DIR/fuzz/artifacts/TARGET/ and the script fails. It ends with the executions run
# per target.
# The default build instruments memeclip and the targets, not their dependencies, which it shares
# with the other release builds of $CARGO_TARGET_DIR (after `cargo test --release` it compiles
# memeclip, the targets and libFuzzer). --all-crates instruments every crate, so that the fuzzer is also guided through
# the decoders and parsers memeclip calls (image, tokenizers, safetensors, the pickle reader):
# its own build of everything, without wgpu (8 minutes the first time on 2 cores), for long runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/memeclip/target}"
seconds=6
all_crates=false
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
    --all-crates) all_crates=true; shift ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(bundle safetensors json_configs image tokenizer_text datasets checkpoint onnx ocr_boxes)
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")

fuzz_dir="$CARGO_TARGET_DIR/fuzz"
if [[ "$all_crates" == true ]]; then
  # Its own target folder, since its flags differ from every other build's; an explicit --target
  # keeps the flags off build scripts and proc macros, which run on the host without libFuzzer's
  # runtime. The targets never build a wgpu device, so they go without it here.
  host=$(rustc -vV | sed -n 's/^host: //p')
  RUSTFLAGS="$(pkg-scripts/fuzz-rustc.sh --flags)" CARGO_TARGET_DIR="$fuzz_dir" cargo build --release -p memeclip-fuzz --bins \
    --no-default-features --target "$host"
  bin_dir="$fuzz_dir/$host/release"
else
  # With the crate's default features, as `cargo test --release` builds it, so that every
  # dependency is already built.
  RUSTC_WORKSPACE_WRAPPER="$PWD/pkg-scripts/fuzz-rustc.sh" cargo build --release -p memeclip-fuzz --bins
  bin_dir="$CARGO_TARGET_DIR/release"
fi

# Seeds: the fixtures each parser reads in the tests, and bundles of the test CLIP.
seeds="$fuzz_dir/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{bundle,safetensors,json_configs,image,tokenizer_text,datasets,checkpoint,onnx,ocr_boxes}
cargo build --release --bin memeclip -q
for quant in int8 f16; do
  "$CARGO_TARGET_DIR/release/memeclip" export-web --clip tests/fixtures/tiny-clip --quant "$quant" \
    --zero-shot mood=happy,sad --out "$seeds/bundle/tiny-$quant.memeclip" > /dev/null
done
cp tests/fixtures/head/*.safetensors tests/fixtures/foreign-features.safetensors "$seeds/safetensors/"
for model in tiny-clip tiny-clip-gelu; do
  for f in tests/fixtures/$model/*.json; do cp "$f" "$seeds/json_configs/$model-$(basename "$f")"; done
done
cp tests/fixtures/images/* "$seeds/image/"
printf 'when the code compiles 😂' > "$seeds/tokenizer_text/emoji"
printf 'Café naïve ÉCOLE <|endoftext|> 3.14%%' > "$seeds/tokenizer_text/accents"
printf 'name,hate,target,stance,humour,split,text\na.png,1,2,0,1,train,"a meme, quoted"\nb.jpg,0,0,2,0,test,text\n' \
  > "$seeds/datasets/pridemm.csv"
printf 'image,label,text,split\na.png,funny,hello,train\nb.png,mean,,val\n' > "$seeds/datasets/generic.csv"
printf '{"id": "1", "image": "a.png", "labels": ["not harmful"], "text": "hi"}\n' > "$seeds/datasets/harmeme.jsonl"
cp tests/fixtures/head/official.ckpt "$seeds/checkpoint/"
printf '\x08\x08' > "$seeds/ocr_boxes/empty"
python3 -c 'import sys; sys.stdout.buffer.write(bytes([16, 8]) + bytes([0]*20 + [255]*10 + [0]*2 + [255]*10 + [0]*86))' \
  > "$seeds/ocr_boxes/one-line"

# fuzz_one TARGET: its kept regression inputs, then $seconds of fuzzing; its executions go to
# $fuzz_dir/TARGET.runs. A failure says which input and returns non-zero.
fuzz_one() {
  local target=$1 bin="$bin_dir/$1"
  local corpus="$fuzz_dir/corpus/$target" artifacts="$fuzz_dir/artifacts/$target/"
  local log="$fuzz_dir/$target.log"
  mkdir -p "$corpus" "$artifacts"
  local options=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 "-artifact_prefix=$artifacts")
  local regressions=(tests/fuzz/regressions/"$target"/*)
  if [[ -e "${regressions[0]}" ]] && ! "$bin" "${options[@]}" "${regressions[@]}" > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz.sh: $target fails on a kept regression input" >&2
    return 1
  fi
  if ! "$bin" "${options[@]}" -max_total_time="$seconds" -print_final_stats=1 "$corpus" "$seeds/$target" > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz.sh: $target found a failing input (saved under $artifacts)" >&2
    return 1
  fi
  awk -v t="$target" '/stat::number_of_executed_units/ { print t ": " $2 " executions" }' "$log" > "$fuzz_dir/$target.runs"
}

for target in "${targets[@]}"; do
  [[ -x "$bin_dir/$target" ]] || { echo "fuzz.sh: no target $target (one of: ${all[*]})" >&2; exit 2; }
done
# Each libFuzzer process runs on one core: as many targets at once as there are cores.
parallel=$(nproc)
running=0
failed=0
for target in "${targets[@]}"; do
  if (( running >= parallel )); then
    wait -n || failed=1
    running=$(( running - 1 ))
  fi
  echo "== $target: $seconds s"
  fuzz_one "$target" &
  running=$(( running + 1 ))
done
while (( running > 0 )); do
  wait -n || failed=1
  running=$(( running - 1 ))
done
(( failed == 0 )) || { echo "fuzz.sh: a target failed (above)" >&2; exit 1; }
for target in "${targets[@]}"; do cat "$fuzz_dir/$target.runs"; done
