"""A made-up archive of dated editorials (CPTPP in 2024, 2025 and 2026; other topics) for the time features."""
from __future__ import annotations

from pathlib import Path

BOARD = "EAF Editorial Board"
CPTPP_2026_QUESTION = "what did the board say about CPTPP in 2026?"

EDITORIALS = [
    ("cptpp-2024-03", "2024-03-12", "CPTPP must stay open to new members",
     ["The board argued that the CPTPP should keep its door open to economies that meet its high standards.",
      "Britain's accession to the CPTPP shows the agreement can grow beyond the Pacific rim.",
      "Members should not let politics slow the review of pending CPTPP applications."]),
    ("cptpp-2025-06", "2025-06-20", "The CPTPP's quiet success",
     ["The CPTPP has lowered tariffs across eleven economies and the board welcomed its steady record.",
      "The board said the CPTPP commission should publish a clear timetable for accession talks.",
      "Trade ministers meeting this year should keep the CPTPP rules on state enterprises intact."]),
    ("cptpp-2026-02", "2026-02-09", "Canberra and Tokyo should lead on the CPTPP",
     ["The board said Japan and Australia should use their influence over the CPTPP accession process.",
      "With the United States absent, the CPTPP is the region's best defence of open trade rules.",
      "The CPTPP members should begin talks with the next applicants before the year is out."]),
    ("cptpp-2026-09", "2026-09-15", "The CPTPP at a crossroads",
     ["The board warned that the CPTPP risks drift if members cannot agree on new accessions.",
      "A CPTPP that admits new members on merit would anchor trade in Asia for a generation.",
      "The board urged the CPTPP commission to decide on pending applications this year."]),
    ("harbour-2026-05", "2026-05-03", "The harbour dredging decision",
     ["The harbour board voted to fund dredging of the old channel after a decade of delay.",
      "Fishermen asked the board to pause the dredging during the spawning season.",
      "The port authority will pay a third of the dredging costs."]),
    # The wire's lightly corrected copy of the harbour editorial: a near-duplicate, shown as one result with it.
    ("harbour-2026-05-wire", "2026-05-04", "Harbour dredging decision (corrected)",
     ["The harbour board voted to fund dredging of the old channel after a decade of delay.",
      "Fishermen asked the board to pause the dredging during the spawning season.",
      "The port authority will pay one third of the dredging costs."]),
    ("rates-2025-11", "2025-11-28", "Central banks and the rate cycle",
     ["The board said central banks should be patient before cutting interest rates again.",
      "Inflation in services remains above target in most of the region.",
      "Rate cuts made too early would have to be reversed at greater cost."]),
]


def write_archive(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for slug, published, title, paras in EDITORIALS:
        body = "\n\n".join(paras)
        (folder / f"{slug}.md").write_text(
            f'---\ntitle: "{title}"\nauthor: {BOARD}\npublished: {published}\nsection: Editorial\n---\n{body}\n')
    return folder


def published(slug_prefix: str = "") -> dict[str, str]:
    return {slug: date for slug, date, _, _ in EDITORIALS if slug.startswith(slug_prefix)}
