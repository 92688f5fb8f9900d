#!/usr/bin/env bash
# Re-fetches the console's charting library, uPlot (MIT, https://github.com/leeoniya/uPlot), from
# npm at the pinned version, checks the package's checksum, and copies the minified script, its
# style and its licence into crates/server/assets/vendor/uplot/. The files are committed and
# compiled into the binary (include_str!), so building and serving need no network; run this only
# to check the committed files or to move to another version (then update VERSION and SHA256).
set -euo pipefail
VERSION=1.6.32
# sha256 of uplot-$VERSION.tgz as the npm registry serves it.
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$here/crates/server/assets/vendor/uplot"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "uplot@$VERSION" --silent >/dev/null)
echo "$SHA256  $work/uplot-$VERSION.tgz" | sha256sum --check --quiet
tar -xzf "$work/uplot-$VERSION.tgz" -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dest/"
echo "$VERSION" > "$dest/VERSION"
if git -C "$here" diff --quiet -- "$dest" 2>/dev/null; then
  echo "uPlot $VERSION: the committed files match the registry's package"
else
  echo "uPlot $VERSION copied into $dest (differs from the committed files: review and commit)"
fi
