#!/usr/bin/env python3
"""Finds links that rustdoc rendered as plain text, which `-D warnings` misses.

rustdoc warns about a link it cannot resolve, but a link that resolves to an
item of a crate whose docs are not in the output (with `--no-deps`: axum-core,
tokio, ...) is written out as its text, "[`IntoResponse`]", with no warning.
This reads the pages of the crate's own items after `cargo doc --no-deps` and
fails on any such text. Pages of items re-exported from other crates (their
docs are those crates') and blanket implementations are skipped.

Usage: python3 .ci/doc_links.py [target/doc/cheese_api]
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/doc/cheese_api"
# A bracketed code span or path left in the text: what a link becomes when
# rustdoc knows its item but has no page to send it to.
UNLINKED = re.compile(r"\[<code>[^<]*</code>\]|\[[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z0-9_]+)+\]")

if not os.path.isdir(root):
    sys.exit(f"{root}: no such directory; run cargo doc first")
found = []
for page in sorted(glob.glob(os.path.join(root, "**", "*.html"), recursive=True)):
    html = open(page, encoding="utf-8").read()
    heading = html.split('<details class="toggle top-doc"', 1)[0]
    if "src/cheese_api/" not in heading:
        continue  # an item of another crate, re-exported: its docs are not ours
    own = html.split('id="blanket-implementations"', 1)[0]
    own = re.sub(r"<pre[^>]*>.*?</pre>", "", own, flags=re.S)  # code examples
    for text in UNLINKED.findall(own):
        found.append(f"{os.path.relpath(page, root)}: {text}")

for line in found:
    print(line)
if found:
    sys.exit(f"{len(found)} link(s) rendered as plain text: link to a docs.rs URL instead")
print(f"{root}: no link rendered as plain text")
