#!/usr/bin/env bash
# Copy the front-end assets the notes site serves itself from node_modules/ into notes/assets/vendor/.
#
# Run by `npm ci` (package.json "postinstall"), or by hand after it. The site then needs no other host
# at run time: KaTeX's script, stylesheet and fonts are served from the built site.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/node_modules/katex/dist"
dest="$root/notes/assets/vendor/katex"

if [[ ! -f "$src/katex.min.js" ]]; then
  echo "site_assets: $src/katex.min.js is missing; run 'npm ci' in $root first" >&2
  exit 1
fi

rm -rf "$dest"
mkdir -p "$dest/contrib" "$dest/fonts"
cp "$src/katex.min.js" "$src/katex.min.css" "$dest/"
cp "$src/contrib/auto-render.min.js" "$dest/contrib/"
# Browsers that run the site all read woff2; the CSS lists woff and ttf only as fallbacks.
cp "$src"/fonts/*.woff2 "$dest/fonts/"
cp "$root/node_modules/katex/LICENSE" "$dest/LICENSE" 2>/dev/null || true
version="$(node -p "require('$root/node_modules/katex/package.json').version" 2>/dev/null || echo unknown)"
echo "site_assets: KaTeX $version copied to notes/assets/vendor/katex"
