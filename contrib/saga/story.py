#!/usr/bin/env python3
# Print the story of each order of a saga run: herald's events and what each service did with its deliveries, in time order.
"""Usage: story.py EVENTS_JSON DIR ORDER...

EVENTS_JSON is the items of GET /v1/events (a JSON array of {"seq",
"received_at", "event"}); DIR holds the services' journals (ROLE.journal,
see service.py).  For each order, one line per event herald stored for it
("event", its seq and type, who published it and its data) and one per
delivery a service received for it (the service, the webhook-id and what
it did), with the time since the order was placed.
"""
import json
import os
import sys
from datetime import datetime, timezone

ROLES = ("order", "payment", "inventory", "shipping")
TYPE = "com.example."


def seconds(rfc3339):
    t = datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=timezone.utc).timestamp()


def event_lines(items, order):
    for it in items:
        ev = it["event"]
        if ev.get("partitionkey") != order:
            continue
        data = " ".join(f"{k}={v}" for k, v in sorted(ev.get("data", {}).items())
                        if k != "order")
        yield seconds(it["received_at"]), "%-9s  stored %s (seq %d) from %s: %s" % (
            "herald", ev["type"].removeprefix(TYPE), it["seq"], ev["source"], data)


def journal_lines(directory, order):
    for role in ROLES:
        try:
            f = open(os.path.join(directory, role + ".journal"))
        except FileNotFoundError:
            continue
        with f:
            for line in f:
                j = json.loads(line)
                if j.get("order") != order:
                    continue
                yield j["t"], "%-9s  got %s (%s): %s" % (role, j["webhook_id"], j["type"], what(j))


def what(j):
    """What a service did with one delivery, from its journal entry."""
    said = {"handled": [j.get("effect") or "no change"],
            "crashed": [j.get("effect") or "no change"],
            "duplicate": ["seen before: nothing done"]}.get(j["result"], [j["result"]])
    if j.get("published"):
        again = " again" if j["result"] == "duplicate" else ""
        dup = " (herald: duplicate)" if j.get("duplicate") else ""
        said.append(f"published {j['published']}{again}{dup}")
    if j["result"] == "crashed":
        said.append("crashed before answering")
    return ", ".join(said)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        items = json.load(f)
    for order in sys.argv[3:]:
        lines = sorted(list(event_lines(items, order)) + list(journal_lines(sys.argv[2], order)),
                       key=lambda x: x[0])
        mine = [it["event"] for it in items if it["event"].get("partitionkey") == order]
        ends = {"order.completed": "completed", "order.cancelled": "cancelled"}
        outcome = next((ends[e["type"].removeprefix(TYPE)] for e in mine
                        if e["type"].removeprefix(TYPE) in ends), "not finished")
        what = next(("%(qty)s x %(item)s" % e["data"] for e in mine
                     if e["type"] == TYPE + "order.placed"), "?")
        when = datetime.fromtimestamp(lines[0][0]).strftime("%H:%M:%S.%f")[:-3] if lines else "?"
        print(f"Order {order} ({what}), placed at {when}: {outcome}")
        t0 = lines[0][0] if lines else 0
        for t, text in lines:
            print("  %+8.3fs  %s" % (t - t0, text))
        print()


if __name__ == "__main__":
    main()
