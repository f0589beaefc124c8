"""Reviews through HTTP: only hirers review (403), one each (409), edit and withdraw your own, a public
list; and the rating stats, kept by a trigger, equal a recount after many concurrent writes."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import psycopg
import pytest

from tests.support.harness import ApiClient, assert_problem
from tests.support.listings import ListingSpec, hire, new_creator, publish, recount, token


@pytest.fixture
def listing(db: Any) -> Any:
    return publish(db, new_creator(db, "Review Co"), ListingSpec("Reviewed", f"c{token()}"))


def _stats(client: Any, slug: str) -> dict[str, Any]:
    page = client.get(f"/api/agents/{slug}").get_json()
    return {"reviews_count": page["reviews_count"], "rating_avg": float(page["rating_avg"]),
            "rating_counts": page["rating_counts"]}


def test_review_rules(client: Any, db: Any, make_user: Any, listing: Any) -> None:
    url = f"/api/agents/{listing.slug}/reviews"
    stranger, hirer, former = make_user(), make_user(), make_user()
    hire(db, hirer.id, listing.id)
    hire(db, former.id, listing.id, status="destroyed")  # any status counts: they used it

    assert_problem(client.post(url, json_body={"rating": 5}), 401)
    body = assert_problem(client.post(url, token=stranger.token, json_body={"rating": 5, "body": "great"}), 403)
    assert "hired" in body["detail"]
    assert_problem(client.post(url, token=hirer.token, json_body={"rating": 6}), 422)
    assert_problem(client.post(url, token=hirer.token, json_body={"rating": 4, "stars": 1}), 422)

    created = client.post(url, token=hirer.token, json_body={"rating": 4, "title": "Good", "body": "Helpful"})
    assert created.status_code == 201, created.get_data(as_text=True)
    review = created.get_json()
    assert (review["rating"], review["title"], review["body"]) == (4, "Good", "Helpful")
    assert_problem(client.post(url, token=hirer.token, json_body={"rating": 1}), 409)
    assert client.post(url, token=former.token, json_body={"rating": 2}).status_code == 201
    assert _stats(client, listing.slug) == {"reviews_count": 2, "rating_avg": 3.0, "rating_counts": [0, 1, 0, 1, 0]}

    listed = client.get(url).get_json()  # public: anon reads it
    assert {r["rating"] for r in listed["items"]} == {4, 2} and listed["next_cursor"] is None
    page = client.get(url, query={"limit": 1}).get_json()
    rest = client.get(url, query={"limit": 1, "cursor": page["next_cursor"]}).get_json()
    assert page["items"][0]["id"] != rest["items"][0]["id"]

    changed = client.put(f"{url}/mine", token=hirer.token, json_body={"rating": 5, "body": "Even better"})
    assert changed.status_code == 200 and changed.get_json()["rating"] == 5
    assert changed.get_json()["id"] == review["id"]
    assert _stats(client, listing.slug)["rating_avg"] == 3.5
    assert_problem(client.put(f"{url}/mine", token=stranger.token, json_body={"rating": 5}), 404)

    assert client.delete(f"{url}/mine", token=former.token).status_code == 204
    assert_problem(client.delete(f"{url}/mine", token=former.token), 404)
    assert _stats(client, listing.slug) == {"reviews_count": 1, "rating_avg": 5.0, "rating_counts": [0, 0, 0, 0, 1]}
    # Withdrawn, they may review again.
    assert client.post(url, token=former.token, json_body={"rating": 3}).status_code == 201

    assert_problem(client.get("/api/agents/no-such-agent/reviews"), 404)
    draft = publish(db, new_creator(db), ListingSpec("Draft", f"c{token()}", status="draft"))
    hire(db, hirer.id, draft.id)
    assert_problem(client.post(f"/api/agents/{draft.slug}/reviews", token=hirer.token, json_body={"rating": 5}), 404)


def test_rls_refuses_a_review_without_a_hire(db: Any, make_user: Any, listing: Any) -> None:
    """The same rule for a direct write (PostgREST would let a client try)."""
    u = make_user()
    with db.user({"sub": u.id, "role": "authenticated"}) as tx:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tx.sql("insert into agent_reviews (agent_id, user_id, rating) values (%(a)s, %(u)s, 5)",
                   {"a": listing.id, "u": u.id})


def test_stats_never_drift_under_concurrent_writes(app: Any, db: Any, make_user: Any, listing: Any) -> None:
    users = [make_user() for _ in range(12)]
    for u in users:
        hire(db, u.id, listing.id)
    url = f"/api/agents/{listing.slug}/reviews"
    start = threading.Barrier(len(users))
    errors: list[str] = []

    def churn(u: Any, seed: int) -> None:
        client = ApiClient(app)  # one client per thread
        rng = random.Random(seed)  # noqa: S311 (a test's schedule)
        start.wait()
        for _ in range(6):
            have = client.post(url, token=u.token, json_body={"rating": rng.randint(1, 5)}).status_code
            if have not in (201, 409):
                errors.append(f"post {have}")
            if client.put(f"{url}/mine", token=u.token, json_body={"rating": rng.randint(1, 5)}).status_code != 200:
                errors.append("put")
            if rng.random() < 0.5 and client.delete(f"{url}/mine", token=u.token).status_code != 204:
                errors.append("delete")

    threads = [threading.Thread(target=churn, args=(u, i)) for i, u in enumerate(users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    stats = recount(db, listing.id)
    assert stats["reviews_count"] == stats["n"]
    assert stats["rating_avg"] == stats["avg"]
    assert stats["rating_counts"] == stats["counts"]
    assert sum(stats["counts"]) == stats["n"]


def test_stats_never_drift_when_transactions_overlap(db: Any, make_user: Any, listing: Any) -> None:
    """Reviews written at the same moment in transactions that stay open a little after writing, so
    each writes before it could see the others' rows: the trigger's lock makes each recount see them
    all (without it, later commits overwrote the stats with counts that missed the others)."""
    users = [make_user() for _ in range(10)]
    for u in users:
        hire(db, u.id, listing.id)
    start = threading.Barrier(len(users), timeout=30)
    failures: list[BaseException] = []

    def review(u: Any, rating: int) -> None:
        try:
            with psycopg.connect(db.url) as conn, conn.transaction():
                conn.execute("select set_config('role', 'authenticated', true),"
                             " set_config('request.jwt.claims', %s, true), set_config('request.jwt.claim.sub', %s, true)",
                             (f'{{"sub": "{u.id}", "role": "authenticated"}}', u.id))
                start.wait()
                conn.execute("insert into agent_reviews (agent_id, user_id, rating) values (%s, %s, %s)",
                             (listing.id, u.id, rating))
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=review, args=(u, 1 + i % 5)) for i, u in enumerate(users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures
    stats = recount(db, listing.id)
    assert stats["n"] == len(users)
    assert (stats["reviews_count"], stats["rating_avg"], stats["rating_counts"]) == (stats["n"], stats["avg"],
                                                                                      stats["counts"])
