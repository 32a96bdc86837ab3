#!/usr/bin/env bash
# Writes the npm package `memeclip` into www/npm/package/ from the module that build-web.sh
# made (www/pkg/), and packs it into www/npm/memeclip-VERSION.tgz (the crate's version).
#   pkg-scripts/build-npm.sh
# The package's own files are www/package/ (package.json, README.md) and www/src/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f www/pkg/memeclip_core_bg.wasm ]]; then
  echo "build-npm.sh: www/pkg/ has no module; run pkg-scripts/build-web.sh first" >&2
  exit 1
fi
version=$(awk -F'"' '/^version *=/ { print $2; exit }' crate/Cargo.toml)
rm -rf www/npm
mkdir -p www/npm/package
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" www/package/package.json > www/npm/package/package.json
cp www/package/README.md www/npm/package/
# Exactly the files package.json lists, so a missing one fails here rather than for a user.
# A name ending in / is a folder (the threaded module with its worker helper).
for f in $(node -e 'for (const f of require("./www/npm/package/package.json").files) console.log(f)'); do
  [[ -e www/npm/package/$f ]] && continue
  if [[ "$f" == */ && -d www/pkg/$f ]]; then cp -r "www/pkg/$f" "www/npm/package/$f"
  elif [[ -f www/pkg/$f ]]; then cp "www/pkg/$f" www/npm/package/
  else echo "build-npm.sh: $f is missing from www/pkg/" >&2; exit 1; fi
done
(cd www/npm/package && npm pack --silent --pack-destination .. > /dev/null)
tarball=www/npm/memeclip-$version.tgz
echo "$tarball: $(stat -c %s "$tarball") bytes, $(gzip -dc "$tarball" | wc -c) unpacked"
