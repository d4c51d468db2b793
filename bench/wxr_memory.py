"""Peak memory and speed of reading WordPress exports of growing size: streaming keeps memory flat.

    .venv/bin/python bench/wxr_memory.py                          # 50 MB and 400 MB exports, 1,000 posts converted
    .venv/bin/python bench/wxr_memory.py --sizes-mb 20,2000 --convert 0

Writes generated exports (posts of ~5 KB of Gutenberg HTML, plus a page, a draft, a revision and an attachment
for every 25 posts, as tests/indexer/wxr.py writes them) under --cache-dir once and reuses them. Each measurement
runs in a fresh process and prints its peak RSS (ru_maxrss): `read` streams every <item> through
indexer.wordpress.read_wxr (the XML part); `convert` also turns the first --convert published posts into
Articles (trafilatura, cleaning), which is where the time goes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARAGRAPH = ("<!-- wp:paragraph -->\n<p>Paragraph {p} of post {n}: the trade ministers of the region met again to "
             "discuss the <a href=\"https://example.org/{n}\">accession process</a>, tariffs on rice and beef, "
             "dairy quotas, digital trade rules and the dispute settlement chapter, and agreed to meet again in "
             "the spring.</p>\n<!-- /wp:paragraph -->\n\n")


def generate(path: Path, size_mb: int) -> int:
    from tests.indexer.wxr import HEAD, item

    posts = 0
    with path.open("w", encoding="utf-8") as f:
        f.write(HEAD.format(doctype=""))
        while f.tell() < size_mb * 1_000_000:
            for _ in range(25):
                posts += 1
                body = "".join(PARAGRAPH.format(p=p, n=posts) for p in range(16))
                f.write(item(posts, f"Post {posts} on regional trade", body, categories=["Trade"], tags=["CPTPP"]))
            f.write(item(posts + 10_000_000, "About", "<p>A page.</p>", post_type="page"))
            f.write(item(posts + 20_000_000, "Draft", "<p>A draft.</p>", status="draft"))
            f.write(item(posts + 30_000_000, "Rev", "<p>Old.</p>", status="inherit", post_type="revision"))
            f.write(item(posts + 40_000_000, "img.jpg", "", status="inherit", post_type="attachment"))
        f.write("\n</channel>\n</rss>\n")
    return posts


def measure(path: str, convert: int) -> dict:
    """Runs in the child: peak RSS after imports, after streaming every item, and after converting posts."""
    import itertools
    import resource

    from indexer.wordpress import load_wordpress, read_wxr

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    out = {"baseline_mb": peak_mb()}
    t0 = time.perf_counter()
    items = sum(1 for _ in read_wxr(Path(path)))
    out.update(items=items, read_s=time.perf_counter() - t0, read_peak_mb=peak_mb())
    if convert:
        t0 = time.perf_counter()
        n = sum(1 for _ in itertools.islice(load_wordpress(Path(path), path), convert))
        out.update(converted=n, convert_s=time.perf_counter() - t0, convert_peak_mb=peak_mb())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="50,400", help="export sizes to generate and read (MB, comma-separated)")
    ap.add_argument("--convert", type=int, default=1000, help="posts to turn into Articles in each run (0: none)")
    ap.add_argument("--cache-dir", default="~/.cache/edsearch/sources-watch/wxr", help="where exports are kept")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.convert)))
        return 0
    cache = Path(args.cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    print(f"{'export':>10} {'items':>8} {'read s':>7} {'MB/s':>6} {'peak MB':>8} {'(imports)':>9} "
          f"{'converted':>9} {'posts/s':>8} {'peak MB':>8}")
    for size in (int(s) for s in args.sizes_mb.split(",")):
        path = cache / f"export-{size}mb.xml"
        if not path.exists():
            generate(path, size)
        r = json.loads(subprocess.run([sys.executable, __file__, "--child", str(path), "--convert", str(args.convert)],
                                      check=True, capture_output=True, text=True, cwd=ROOT).stdout)
        mb = path.stat().st_size / 1e6
        conv = (f"{r['converted']:>9} {r['converted'] / r['convert_s']:>8.0f} {r['convert_peak_mb']:>8.0f}"
                if args.convert else "")
        print(f"{mb:>8.0f}MB {r['items']:>8} {r['read_s']:>7.1f} {mb / r['read_s']:>6.0f} {r['read_peak_mb']:>8.0f} "
              f"{r['baseline_mb']:>9.0f} {conv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
