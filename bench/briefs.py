"""Deterministic sample briefs for the five simulated-writer clients, for benchmarks.

Each brief combines small word lists: a recipient, their company, a situation that names the
company, one concrete key fact about the client's offer, and an instruction — three short
sentences, so prompt and draft fit a small model's 2,048-token context. The same client, n and
seed always give the same briefs.

    .venv/bin/python bench/briefs.py --per-client 40 --seed 1 -o briefs.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIRST_NAMES = (
    "Maria", "James", "Sofia", "Daniel", "Aisha", "Oliver", "Hannah", "Elena", "Marcus",
    "Priya", "Liam", "Nora", "Rachel", "Tom", "Imogen", "Arjun", "Chloe", "Ben",
)  # fmt: skip
LAST_NAMES = (
    "Lopez", "Chen", "Rossi", "Brooks", "Bello", "Grant", "Weiss", "Marsh", "Reid", "Nair",
    "Doherty", "Fitzgerald", "Moore", "Becker", "Clarke", "Mehta", "Dunn", "Adeyemi",
)  # fmt: skip


@dataclass(frozen=True)
class ClientWords:
    """The word lists one client's briefs are combined from."""

    prefix: str
    email_types: tuple[str, ...]
    titles: tuple[str, ...]
    companies: tuple[str, ...]
    situations: tuple[str, ...]  # each with {company}
    facts: tuple[tuple[str, str], ...]  # (lead-in, key fact): the brief says "lead-in fact."
    goals: tuple[tuple[str, str], ...]  # (goal, instruction)


CLIENTS = {
    "Northwind Analytics": ClientWords(
        prefix="NW",
        email_types=("cold intro", "follow-up", "event follow-up"),
        titles=("Head of Customer Success", "VP Revenue Operations", "COO", "CFO"),
        companies=("Brightline Software", "Ledgerly", "Parcelwise", "Tallyhouse", "Mintleaf"),
        situations=(
            "{company} is hiring two data analysts",
            "{company} announced a Series B last month",
            "{company} reported churn of 4% a month",
            "{company} moved its reporting to Snowflake this year",
        ),
        facts=(
            ("Northwind's churn dashboard", "flags at-risk accounts 30 days earlier"),
            ("A similar customer", "cut weekly reporting from 12 hours to 2"),
            ("Northwind's board pack", "builds MRR and NRR charts automatically"),
        ),
        goals=(
            ("book a product walkthrough", "Offer a walkthrough with their own data."),
            ("revive a stalled trial", "Suggest picking the trial back up."),
        ),
    ),
    "Harbor & Pine Interiors": ClientWords(
        prefix="HP",
        email_types=("cold intro", "seasonal offer", "re-engagement"),
        titles=("General Manager", "Owner", "Head of Workplace", "Operations Director"),
        companies=("The Saltworks Hotel", "Copper Kettle Bistro", "Lumen Labs", "Birch Lane B&B"),
        situations=(
            "{company} is renovating its lobby this winter",
            "{company} is opening a second site in spring",
            "{company} has a long, narrow dining room",
            "{company} is moving into a new office by the docks",
        ),
        facts=(
            ("Harbor & Pine", "redid the Tidewater Inn lobby in 10 weeks without closing it"),
            ("The winter refresh", "covers up to 8 rooms in 5 days at a fixed price"),
            ("Harbor & Pine", "lifted guest reviews at the Anchor Wexford from 4.2 to 4.6"),
        ),
        goals=(
            ("arrange a site visit", "Offer a free site visit and mood board."),
            ("book a design consultation", "Offer a consultation on site."),
        ),
    ),
    "Kestrel Freight": ClientWords(
        prefix="KF",
        email_types=("cold intro", "follow-up", "event follow-up"),
        titles=("Logistics Manager", "Supply Chain Director", "Head of Distribution"),
        companies=("Oakridge Furniture", "Verdant Foods", "Stitchwell Apparel", "Petal & Stem"),
        situations=(
            "{company} ships pallets from Leeds to London every week",
            "{company} starts its peak season in October",
            "{company} had damaged pallets on its Midlands lane",
            "{company} promises next-day delivery across the Midlands",
        ),
        facts=(
            ("Kestrel", "offers 2-hour pickup windows on daily Leeds-London trailers"),
            ("Kestrel's evening collection", "reaches all Midlands depots by 6am"),
            ("Kestrel", "reserves peak capacity booked by 1 September at August rates"),
        ),
        goals=(
            ("quote a lane", "Offer a quote for their weekly volume."),
            ("trial a lane", "Offer a two-week trial at standard rates."),
        ),
    ),
    "Larkspur Legal": ClientWords(
        prefix="LL",
        email_types=("cold intro", "follow-up", "referral"),
        titles=("CEO", "Founder", "General Counsel", "Head of People"),
        companies=("Brightpath", "Corvid Robotics", "Meadowlark Foods", "Tessellate"),
        situations=(
            "{company} is raising a Series A",
            "{company} is hiring its first staff in Germany",
            "{company} is renegotiating its office lease",
            "{company} signed three new enterprise customers this quarter",
        ),
        facts=(
            ("Larkspur", "reviews term sheets within 48 hours for a fixed fee"),
            ("Larkspur's employment team", "drafts EU contracts in English and German"),
            ("Larkspur", "has closed 40 commercial leases for startups since 2021"),
        ),
        goals=(
            ("book a consultation", "Offer an initial consultation."),
            ("introduce the firm", "Introduce the relevant partner."),
        ),
    ),
    "Quarry Bikes": ClientWords(
        prefix="QB",
        email_types=("cold intro", "follow-up", "seasonal offer"),
        titles=("Ops Lead", "Founder", "Fleet Manager", "Office Manager"),
        companies=("Zipline Couriers", "Greengrocer Co", "Hopscotch Studio", "Cobble Coffee"),
        situations=(
            "{company} runs 40 delivery riders in Leeds",
            "{company} is moving its team to a cycle-to-work scheme",
            "{company} delivers across the city centre every morning",
            "{company} just opened a second shop with a bike rack outside",
        ),
        facts=(
            ("Quarry's cargo e-bikes", "carry 120 kg and do 80 km on one charge"),
            ("Quarry", "services a whole fleet on site every month"),
            ("Quarry's lease plan", "costs 15 pounds a week per bike"),
        ),
        goals=(
            ("book a test ride", "Invite them to try the bikes."),
            ("quote a fleet", "Offer a fleet quote."),
        ),
    ),
}


def make_briefs(client: str, n: int, seed: int) -> list[dict[str, Any]]:
    """n task data dicts for one of the five clients; the same arguments give the same briefs.

    >>> make_briefs("Kestrel Freight", 1, 0) == make_briefs("Kestrel Freight", 1, 0)
    True
    >>> sorted(make_briefs("Quarry Bikes", 1, 0)[0])  # doctest: +NORMALIZE_WHITESPACE
    ['brief', 'client', 'company', 'email_type', 'external_id', 'goal', 'key_fact',
     'recipient']
    """
    words = CLIENTS.get(client)
    if words is None:
        raise ValueError(f"no word lists for client {client!r}; choose from {sorted(CLIENTS)}")
    rng = random.Random(f"{client}:{seed}")
    briefs = []
    for i in range(1, n + 1):
        company = rng.choice(words.companies)
        lead, fact = rng.choice(words.facts)
        goal, instruction = rng.choice(words.goals)
        situation = rng.choice(words.situations).format(company=company)
        briefs.append(
            {
                "external_id": f"{words.prefix}-S{seed}-{i:04d}",
                "client": client,
                "email_type": rng.choice(words.email_types),
                "recipient": (
                    f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}, "
                    f"{rng.choice(words.titles)}"
                ),
                "company": company,
                "goal": goal,
                "brief": f"{situation}. {lead} {fact}. {instruction}",
                "key_fact": fact,
            }
        )
    return briefs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-client", type=int, default=20, help="Briefs per client.")
    parser.add_argument("--seed", type=int, default=0, help="Same seed, same briefs.")
    parser.add_argument(
        "--client", action="append", choices=sorted(CLIENTS), help="Only these clients."
    )
    parser.add_argument("-o", "--output", type=Path, help="JSONL file (default: stdout).")
    args = parser.parse_args()
    rows = [
        brief
        for client in args.client or list(CLIENTS)
        for brief in make_briefs(client, args.per_client, args.seed)
    ]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {len(rows):,} briefs to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
