#!/usr/bin/env bash
# Downloads a Hugging Face CLIP repository in the layout memeclip reads:
# config.json, model.safetensors, tokenizer.json and preprocessor_config.json.
#
#   pkg-scripts/get-clip.sh [REPO] [DIR]
#   REPO defaults to openai/clip-vit-base-patch32; MemeCLIP itself uses openai/clip-vit-large-patch14.
#   DIR defaults to models/<name of the repo>.
# Set HF_TOKEN for gated or private repositories.
set -euo pipefail

repo="${1:-openai/clip-vit-base-patch32}"
dir="${2:-models/${repo##*/}}"
base="${HF_ENDPOINT:-https://huggingface.co}/${repo}/resolve/main"
mkdir -p "$dir"

auth=()
if [[ -n "${HF_TOKEN:-}" ]]; then auth=(-H "Authorization: Bearer ${HF_TOKEN}"); fi

for file in config.json tokenizer.json preprocessor_config.json model.safetensors; do
  if [[ -s "$dir/$file" ]]; then
    echo "have $dir/$file"
    continue
  fi
  echo "fetching $repo/$file"
  # Download to a temporary name so an interrupted download never looks complete.
  curl --fail --location --retry 3 --progress-bar "${auth[@]}" -o "$dir/$file.part" "$base/$file"
  mv "$dir/$file.part" "$dir/$file"
done
echo "CLIP folder ready: $dir"
