#!/usr/bin/env python3
# One service of the saga in contrib/saga: a webhook receiver that verifies each delivery, acts on it once and publishes its outcome to herald.
"""Usage: service.py ROLE --dir DIR --herald URL [--port N] [--crash-once]

ROLE is one of the four services of the choreography:

  order      POST /orders {"order", "item", "qty"} places an order
             (order.placed); shipping.scheduled completes it
             (order.completed), payment.refunded cancels it (order.cancelled)
  payment    order.placed: charge (payment.charged);
             inventory.out_of_stock: refund the charge (payment.refunded)
  inventory  payment.charged: reserve the stock (inventory.reserved), or
             inventory.out_of_stock when there is not enough
  shipping   inventory.reserved: book a parcel (shipping.scheduled)

herald delivers to POST /hook in structured mode.  Each delivery is
checked (the Standard Webhooks signature, compared in constant time, and a
timestamp at most five minutes away), then handled once per webhook-id:
the effect, the outcome event and the webhook-id are saved together in
DIR/ROLE.json before the outcome is published, so a redelivery (herald
retrying after a crash, a timeout or a lost answer) publishes the same
event again, which herald recognizes as a duplicate by its source and id,
and changes nothing.  Outcomes carry partitionkey = the order id, so herald
delivers the events of one order in order.  (The webhook-ids seen are kept
forever here; a real service may forget one once herald can no longer
retry it, after the subscription's whole retry schedule.)

Files in DIR: ROLE.port (written once listening), ROLE.secret (the
subscription's signing secret, written by run.sh; read at every request),
ROLE.json (state), ROLE.journal (one JSON line per delivery, read by
story.py).  The key to publish with comes from $SAGA_PUBLISH_KEY.

--crash-once: for each order, exit (status 70) after handling its first
delivery and publishing the outcome, without answering: the worst moment,
as the work is done but herald does not know it.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300           # accepted distance of webhook-timestamp from our clock
MAX_BODY = 1 << 20
PRICES = {"book": 1250, "lamp": 3000}   # cents
INITIAL_STOCK = {"book": 5, "lamp": 0}
TYPE = "com.example."       # event types are TYPE + "order.placed", ...

args = None
lock = threading.Lock()     # guards the state and its file
state = None


# ---------------------------------------------------------------- state

def path(ext):
    return os.path.join(args.dir, f"{args.role}.{ext}")


def load_state():
    try:
        with open(path("json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"seen": {}, "crashed": [], "effects": [], "orders": {},
                "charges": {}, "stock": dict(INITIAL_STOCK)}


def save_state():
    """Replace the state file atomically: a crash leaves the old or the new one."""
    tmp = path("json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path("json"))


def journal(**entry):
    entry["t"] = time.time()
    with open(path("journal"), "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def log(msg):
    print(f"{args.role}: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the services

class NotYet(Exception):
    """The event came too early: answer 409, herald retries it."""


def outcome(order, short, data):
    """The event this service publishes: its id depends only on the order
    and the step, so publishing it twice stores it once."""
    return {"specversion": "1.0", "id": f"{order}/{short}",
            "source": f"/saga/{args.role}", "type": TYPE + short,
            "partitionkey": order,
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "datacontenttype": "application/json",
            "data": dict(data, order=order)}


def on_payment(short, d, order):
    if short == "order.placed":
        state["charges"][order] = d["amount"]
        return f"charged {d['amount']}", outcome(order, "payment.charged", {
            "amount": d["amount"], "item": d["item"], "qty": d["qty"]})
    if short == "inventory.out_of_stock":
        # herald's per-key order means the charge is always there; were it
        # not, herald is asked to try again later
        if order not in state["charges"]:
            raise NotYet("nothing charged for this order yet")
        amount = state["charges"].pop(order)
        return f"refunded {amount}", outcome(order, "payment.refunded", {
            "amount": amount, "reason": "out of stock"})
    return None


def on_inventory(short, d, order):
    if short != "payment.charged":
        return None
    have = state["stock"].get(d["item"], 0)
    if have < d["qty"]:
        return None, outcome(order, "inventory.out_of_stock", {
            "item": d["item"], "qty": d["qty"], "available": have})
    state["stock"][d["item"]] = have - d["qty"]
    return f"reserved {d['qty']} {d['item']}", outcome(order, "inventory.reserved", {
        "item": d["item"], "qty": d["qty"]})


def on_shipping(short, d, order):
    if short != "inventory.reserved":
        return None
    parcel = "P-" + hashlib.sha256(order.encode()).hexdigest()[:8]
    return f"booked parcel {parcel}", outcome(order, "shipping.scheduled", {"parcel": parcel})


def on_order(short, d, order):
    ends = {"shipping.scheduled": ("completed", "order.completed"),
            "payment.refunded": ("cancelled", "order.cancelled")}
    if short not in ends or order not in state["orders"]:
        return None
    status, short_out = ends[short]
    state["orders"][order]["status"] = status
    return f"order {status}", outcome(order, short_out, {"status": status})


HANDLERS = {"order": on_order, "payment": on_payment,
            "inventory": on_inventory, "shipping": on_shipping}


# ---------------------------------------------------------------- herald

def verify(headers, body):
    """None when the delivery is signed with our secret and recent, else why not."""
    try:
        with open(path("secret")) as f:
            secret = f.read().strip()
    except FileNotFoundError:
        return "no secret yet"
    wid, ts = headers.get("webhook-id"), headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (wid and ts and sigs):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not (ts.isascii() and ts.isdigit()) or abs(time.time() - int(ts)) > TOLERANCE_S:
        return "timestamp too far from our clock"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
    want = b"v1," + base64.b64encode(mac)
    # during a rotation there are two signatures: any one will do
    if any(hmac.compare_digest(s.encode(), want) for s in sigs.split()):
        return None
    return "signature does not match"


def publish(event):
    """POST the event to herald; its answer ({"seq", "duplicate"...}) or None."""
    req = urllib.request.Request(
        args.herald.rstrip("/") + "/v1/events", data=json.dumps(event).encode(),
        method="POST", headers={
            "Content-Type": "application/cloudevents+json",
            "Authorization": "Bearer " + os.environ.get("SAGA_PUBLISH_KEY", "")})
    for attempt in range(4):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            log(f"publishing {event['id']}: herald answered {e.code} {e.read()[:200]!r}")
            if e.code not in (429, 500, 503):
                return None
        except OSError as e:
            log(f"publishing {event['id']}: {e}")
        time.sleep(0.2 * 2 ** attempt)
    return None


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        pass

    def answer(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            return self.answer(413, {"error": "body too large"})
        body = self.rfile.read(n)
        if self.path == "/hook":
            return self.hook(body)
        if self.path == "/orders" and args.role == "order":
            return self.place(body)
        return self.answer(404, {"error": "not found"})

    def place(self, body):
        """The shop's front door (not signed: local to the demo)."""
        try:
            req = json.loads(body)
            order, item, qty = req["order"], req["item"], int(req["qty"])
            amount = PRICES[item] * qty
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": "want {order, item (book or lamp), qty}"})
        with lock:
            if order not in state["orders"]:
                state["orders"][order] = {"status": "placed", "event": outcome(
                    order, "order.placed", {"item": item, "qty": qty, "amount": amount})}
                state["effects"].append(f"placed {order}")
                save_state()
            event = state["orders"][order]["event"]
        ans = publish(event)
        if ans is None:
            return self.answer(503, {"error": "herald did not take the event"})
        log(f"{order}: placed {qty} x {item}, published order.placed (seq {ans['seq']})")
        return self.answer(201, ans)

    def hook(self, body):
        why = verify(self.headers, body)
        wid = self.headers.get("webhook-id", "")
        if why:
            log(f"{wid}: refused: {why}")
            journal(webhook_id=wid, result="refused", why=why)
            return self.answer(401, {"error": why})
        try:
            event = json.loads(body)
            short = event["type"].removeprefix(TYPE)
            order = event["partitionkey"]
            data = event["data"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": "not a structured CloudEvent of the saga"})
        crash = False
        with lock:
            seen = state["seen"].get(wid)
            if seen is None:
                before = json.dumps(state)
                try:
                    done = HANDLERS[args.role](short, data, order)
                except (NotYet, KeyError, TypeError, ValueError) as e:
                    # undo what the handler changed before it gave up
                    state.clear()
                    state.update(json.loads(before))
                    if isinstance(e, NotYet):
                        journal(webhook_id=wid, type=short, order=order, result="too early")
                        return self.answer(409, {"error": str(e)})
                    return self.answer(400, {"error": f"event data lacks or mistypes {e}"})
                effect, out = done if done else (None, None)
                if effect:
                    state["effects"].append(f"{effect} for {order}")
                seen = state["seen"][wid] = {"order": order, "effect": effect, "event": out}
                crash = args.crash_once and order not in state["crashed"]
                if crash:
                    state["crashed"].append(order)
                save_state()
                result = "handled"
            else:
                result = "duplicate"
        out = seen["event"]
        ans = publish(out) if out else {}
        if ans is None:
            journal(webhook_id=wid, type=short, order=order, result="publish failed")
            return self.answer(503, {"error": "herald did not take the outcome"})
        entry = dict(webhook_id=wid, type=short, order=order, result=result,
                     effect=seen["effect"] if result == "handled" else None,
                     published=out and out["type"].removeprefix(TYPE),
                     seq=ans.get("seq"), duplicate=ans.get("duplicate"))
        line = f"{wid} {short} {order}: {result}"
        if entry["effect"]:
            line += ", " + entry["effect"]
        if out:
            line += f", published {entry['published']} (seq {ans['seq']}"
            line += ", a duplicate)" if ans["duplicate"] else ")"
        log(line)
        if crash:
            journal(**dict(entry, result="crashed"))
            log(f"{wid}: crashing before answering (--crash-once)")
            os._exit(70)
        journal(**entry)
        return self.answer(204)


def main():
    global args, state
    p = argparse.ArgumentParser(description="One service of the saga in contrib/saga.")
    p.add_argument("role", choices=sorted(HANDLERS))
    p.add_argument("--dir", required=True)
    p.add_argument("--herald", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--crash-once", action="store_true")
    args = p.parse_args()
    state = load_state()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    with open(path("port.tmp"), "w") as f:
        f.write(f"{port}\n")
    os.replace(path("port.tmp"), path("port"))
    log(f"listening on 127.0.0.1:{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
