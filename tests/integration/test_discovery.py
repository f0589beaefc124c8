"""Discovery through HTTP: ranking, filters that combine, the four sorts, keyset paging that stays put
while listings are inserted, cursors checked, listing pages, collections and A2A agent cards.

Each test makes its own listings under a fresh category or word, so the shared database's other
rows (the seed, other tests) never change what it sees."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.harness import assert_problem
from tests.support.listings import ListingSpec, new_creator, publish, token


@pytest.fixture
def creator(db: Any) -> str:
    return new_creator(db, "Search Labs")


def _slugs(client: Any, **query: Any) -> list[str]:
    resp = client.get("/api/agents", query=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [a["slug"] for a in resp.get_json()["items"]]


def _all_pages(client: Any, **query: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/api/agents", query={**query, **({"cursor": cursor} if cursor else {})}).get_json()
        seen += [a["slug"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return seen


def test_an_exact_name_ranks_first(client: Any, db: Any, creator: str) -> None:
    t = token()
    cat = f"c{t}"
    exact = publish(db, creator, ListingSpec(f"Quill {t}", cat, tagline="Writes things"))
    # Mentions the words everywhere, so on text rank alone it beats the exact name.
    loud = publish(db, creator, ListingSpec(f"Quill {t} Pro", cat, tags=["quill", t],
                                            tagline=f"quill {t} quill {t}", description=f"quill {t} " * 30))
    assert _slugs(client, q=t, category=cat) == [loud.slug, exact.slug]
    assert _slugs(client, q=f"Quill {t}", category=cat) == [exact.slug, loud.slug]
    assert _slugs(client, q=f"quill {t.upper()}", category=cat)[0] == exact.slug  # case does not matter
    # A name made only of stop words has no text to match, and is still found by its name.
    stop = publish(db, creator, ListingSpec("To Be", cat))
    assert _slugs(client, q="to be", category=cat) == [stop.slug]


def test_filters_combine(client: Any, db: Any, creator: str) -> None:
    t = token()
    cat, other = f"c{t}", f"d{t}"
    ab = publish(db, creator, ListingSpec("Alpha", cat, tags=["red", "blue"], description=f"{t} helper"))
    a = publish(db, creator, ListingSpec("Beta", cat, tags=["red"], description=f"{t} helper"))
    abc = publish(db, creator, ListingSpec("Gamma", cat, tags=["red", "blue", "green"], description="other words"))
    publish(db, creator, ListingSpec("Delta", other, tags=["red", "blue"], description=f"{t} helper"))
    publish(db, creator, ListingSpec("Hidden", cat, tags=["red", "blue"], description=f"{t}", status="draft"))

    assert set(_slugs(client, category=cat)) == {ab.slug, a.slug, abc.slug}
    assert set(_slugs(client, category=cat, tag="red")) == {ab.slug, a.slug, abc.slug}
    assert set(_slugs(client, category=cat, tag=["red", "blue"])) == {ab.slug, abc.slug}  # all tags must match
    assert set(_slugs(client, category=cat, tag=["blue", "red", "green"])) == {abc.slug}
    assert set(_slugs(client, category=cat, tag=["red", "blue"], q=t)) == {ab.slug}  # q and tags and category
    assert set(_slugs(client, category=cat, q=t)) == {ab.slug, a.slug}
    assert _slugs(client, category=cat, tag=["red", "purple"]) == []
    assert len(_slugs(client, tag=["red", "blue"], q=t)) == 2  # the other category's one too
    body = assert_problem(client.get("/api/agents", query={"tag": [f"x{i}" for i in range(11)]}), 422)
    assert body["errors"][0]["loc"][:2] == ["query", "tag"]


def test_each_sort(client: Any, db: Any, creator: str) -> None:
    t = token()
    cat = f"c{t}"
    old_popular = publish(db, creator, ListingSpec("Old popular", cat, hires=900, rating="3.50", reviews=40,
                                                   age_days=30, description=f"{t}"))
    top_rated = publish(db, creator, ListingSpec("Top rated", cat, hires=10, rating="4.90", reviews=12,
                                                 age_days=20, description=f"{t} {t} {t}"))
    rated_more = publish(db, creator, ListingSpec("Rated more", cat, hires=50, rating="4.90", reviews=300,
                                                  age_days=10, description="nothing"))
    newest = publish(db, creator, ListingSpec(f"{t}", cat, hires=0, age_days=0, description="brand new"))

    assert _slugs(client, category=cat) == [old_popular.slug, rated_more.slug, top_rated.slug, newest.slug]
    assert _slugs(client, category=cat, sort="popular") == _slugs(client, category=cat)
    # Top rated: the average, then how many reviews it rests on.
    assert _slugs(client, category=cat, sort="rating") == [rated_more.slug, top_rated.slug, old_popular.slug,
                                                            newest.slug]
    assert _slugs(client, category=cat, sort="new") == [newest.slug, rated_more.slug, top_rated.slug,
                                                         old_popular.slug]
    # Relevance is the default with q: the exact name first, then by text rank.
    assert _slugs(client, category=cat, q=t) == [newest.slug, top_rated.slug, old_popular.slug]
    assert _slugs(client, category=cat, q=t, sort="relevance") == _slugs(client, category=cat, q=t)
    assert _slugs(client, category=cat, q=t, sort="popular") == [old_popular.slug, top_rated.slug, newest.slug]
    # relevance without q means popular
    assert _slugs(client, category=cat, sort="relevance") == _slugs(client, category=cat, sort="popular")
    assert_problem(client.get("/api/agents", query={"sort": "cheapest"}), 422)


@pytest.mark.parametrize("sort", ["popular", "rating", "new", "relevance"])
def test_paging_is_stable_under_inserts(client: Any, db: Any, creator: str, sort: str) -> None:
    t = token()
    cat = f"c{t}"
    originals = [publish(db, creator, ListingSpec(f"Agent {i}", cat, hires=(i * 7) % 5, rating=f"{(i % 4) + 1}.00",
                                                  reviews=i % 3, age_days=i % 4, description=f"{t} " * (1 + i % 3)))
                 for i in range(14)]
    query: dict[str, Any] = {"category": cat, "sort": sort, "limit": 4, **({"q": t} if sort == "relevance" else {})}
    first = client.get("/api/agents", query=query).get_json()
    seen = [a["slug"] for a in first["items"]]
    cursor = first["next_cursor"]
    inserted = 0
    while cursor:
        # Listings that sort before, after and level with what was seen, between every two pages.
        for hires, rating, words in ((99, "5.00", 5), (0, "1.00", 1), (2, "3.00", 2)):
            publish(db, creator, ListingSpec(f"Late {inserted}", cat, hires=hires, rating=rating, reviews=1,
                                             description=f"{t} " * words))
            inserted += 1
        page = client.get("/api/agents", query={**query, "cursor": cursor})
        assert page.status_code == 200, page.get_data(as_text=True)
        seen += [a["slug"] for a in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
    assert len(seen) == len(set(seen)), "a listing came twice"
    assert {o.slug for o in originals} <= set(seen), "a listing that existed before paging was skipped"
    assert inserted > 0
    # The keyset order is the sort's order: what the pages showed is what one big page shows for them.
    whole = [s for s in _all_pages(client, **{**query, "limit": 100}) if s in set(seen)]
    assert [s for s in seen if s in {o.slug for o in originals}] == [s for s in whole if s in {o.slug for o in originals}]


def _forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def test_cursors_are_checked(client: Any, db: Any, creator: str) -> None:
    t = token()
    cat = f"c{t}"
    for i in range(3):
        publish(db, creator, ListingSpec(f"Cursor {i}", cat, hires=i, description=f"{t} word{i}"))
    page = client.get("/api/agents", query={"category": cat, "q": t, "limit": 1}).get_json()
    cursor = page["next_cursor"]
    assert cursor
    ok = client.get("/api/agents", query={"category": cat, "q": t, "limit": 1, "cursor": cursor})
    assert ok.status_code == 200
    # The limit may change between pages; the search may not.
    assert client.get("/api/agents", query={"category": cat, "q": t, "limit": 5, "cursor": cursor}).status_code == 200
    for changed in ({"q": f"{t} word1"}, {"category": f"x{t}"}, {"tag": "red"}):
        body = assert_problem(client.get("/api/agents", query={"category": cat, "q": t, "limit": 1,
                                                               "cursor": cursor, **changed}), 400)
        assert body["type"].endswith("/cursor-mismatch"), body
    # Another sort's cursor does not fit this sort's keyset.
    body = assert_problem(client.get("/api/agents", query={"category": cat, "q": t, "sort": "new", "cursor": cursor}), 400)
    assert body["type"].endswith("/invalid-cursor") or body["type"].endswith("/cursor-mismatch")

    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded["sort"] == "relevance"
    forged = [
        "not base64 at all!!",
        _forge(["a", "list"]),
        _forge({**decoded, "rank": "NaN"}),
        _forge({**decoded, "rank": "1; drop table agents"}),
        _forge({**decoded, "id": "not-a-uuid"}),
        _forge({**decoded, "hires_count": 1.5}),
        _forge({**decoded, "hires_count": 2**70}),
        _forge({k: v for k, v in decoded.items() if k != "filters"}),
        _forge({**decoded, "extra": 1}),
        _forge({**decoded, "sort": "popular"}),
    ]
    for bad in forged:
        body = assert_problem(client.get("/api/agents", query={"category": cat, "q": t, "cursor": bad}), 400)
        assert body["type"].rsplit("/", 1)[-1] in ("invalid-cursor", "cursor-mismatch"), (bad, body)
    popular = client.get("/api/agents", query={"category": cat, "limit": 1}).get_json()["next_cursor"]
    p = json.loads(base64.urlsafe_b64decode(popular + "=" * (-len(popular) % 4)))
    for bad in (_forge({**p, "hires_count": "7"}), _forge({**p, "hires_count": True})):
        assert_problem(client.get("/api/agents", query={"category": cat, "cursor": bad}), 400)
    rating = client.get("/api/agents", query={"category": cat, "sort": "rating", "limit": 1}).get_json()["next_cursor"]
    r = json.loads(base64.urlsafe_b64decode(rating + "=" * (-len(rating) % 4)))
    for value in ("Infinity", "abc", "7.5"):
        assert_problem(client.get("/api/agents", query={"category": cat, "sort": "rating",
                                                        "cursor": _forge({**r, "rating_avg": value})}), 400)


def test_agent_page(client: Any, db: Any, creator: str) -> None:
    listing = publish(db, creator, ListingSpec("Page Agent", f"c{token()}", tags=["one"], tagline="Short",
                                               description="# Page Agent\nLong text.", pricing="per_task", price=3))
    anon = client.get(f"/api/agents/{listing.slug}")
    assert anon.status_code == 200
    page = anon.get_json()
    assert page["description"].startswith("# Page Agent")
    assert (page["pricing_model"], page["credits_price"]) == ("per_task", 3)
    assert page["relays"] == ["telegram", "slack"] and page["models"] == ["openai/gpt-5-mini"]
    assert page["creator_name"] == "Search Labs"
    assert page["rating_avg"] in ("0.00", 0, "0") and page["reviews_count"] == 0
    assert page["rating_counts"] == [0, 0, 0, 0, 0]
    assert "current_version" in page


def test_collections(client: Any, seeded: None) -> None:
    resp = client.get("/api/collections")
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"items", "next_cursor"}
    slugs = [c["slug"] for c in body["items"]]
    assert slugs.index("featured") < slugs.index("for-developers")  # featured lists first
    featured = body["items"][slugs.index("featured")]
    assert featured["featured"] is True
    assert featured["agents"] and all(a["slug"] and a["name"] for a in featured["agents"])
    assert all(a["slug"] != "secret-draft" for c in body["items"] for a in c["agents"])
    only_curated = client.get("/api/collections", query={"featured": "false"}).get_json()["items"]
    assert only_curated and not any(c["featured"] for c in only_curated)
    first = client.get("/api/collections", query={"limit": 1}).get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = client.get("/api/collections", query={"limit": 1, "cursor": first["next_cursor"]}).get_json()
    assert second["items"][0]["slug"] != first["items"][0]["slug"]
    assert_problem(client.get("/api/collections", query={"cursor": "garbage"}), 400)


def test_agent_card(client: Any, db: Any, creator: str) -> None:
    t = token()
    listing = publish(db, creator, ListingSpec("Card Agent", f"c{t}", tags=["cards", "a2a"], tagline="Deals cards"))
    resp = client.get(f"/api/agents/{listing.slug}/agent-card.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    card = resp.get_json()
    assert {"name", "description", "url", "version", "capabilities", "defaultInputModes", "defaultOutputModes",
            "skills", "provider"} <= set(card)
    assert card["name"] == "Card Agent" and card["description"] == "Deals cards"
    assert card["url"].endswith("/api/chat/stream")
    assert card["capabilities"]["streaming"] is True
    assert card["defaultInputModes"] == ["text/plain"] and card["defaultOutputModes"] == ["text/plain"]
    assert card["provider"]["organization"] == "Search Labs" and card["provider"]["url"].startswith("http")
    # No published version yet: the agent itself is the one skill.
    assert card["skills"] == [{"id": listing.slug, "name": "Card Agent", "description": "Deals cards",
                               "tags": ["cards", "a2a"]}]

    # With a published version, its skills (name and description) are the card's.
    import hashlib
    h = hashlib.sha256(t.encode()).hexdigest()
    with db.service() as tx:
        v = tx.sql("insert into agent_versions (agent_id, creator_id, version, openclaw_version, status, published_at)"
                   " values (%(a)s, %(c)s, '1.2.3', '2026.9.6', 'published', now()) returning id",
                   {"a": listing.id, "c": creator}).fetchone()["id"]
        for name, desc in (("triage", "Sorts the inbox"), ("draft", "Drafts replies")):
            tx.sql("insert into agent_skills (version_id, creator_id, name, description, content_hash, permissions_hash)"
                   " values (%(v)s, %(c)s, %(n)s, %(d)s, %(h)s, %(h)s)",
                   {"v": v, "c": creator, "n": name, "d": desc, "h": h})
        tx.sql("update agents set current_version_id = %(v)s where id = %(a)s", {"v": v, "a": listing.id})
    card = client.get(f"/api/agents/{listing.slug}/agent-card.json").get_json()
    assert card["version"] == "1.2.3"
    assert card["skills"] == [{"id": "draft", "name": "draft", "description": "Drafts replies", "tags": ["cards", "a2a"]},
                              {"id": "triage", "name": "triage", "description": "Sorts the inbox",
                               "tags": ["cards", "a2a"]}]
    draft = publish(db, creator, ListingSpec("Draft Card", f"c{t}", status="draft"))
    assert_problem(client.get(f"/api/agents/{draft.slug}/agent-card.json"), 404)
    assert_problem(client.get("/api/agents/no-such-agent/agent-card.json"), 404)
