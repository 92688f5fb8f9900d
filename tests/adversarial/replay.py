#!/usr/bin/env python3
"""Replays issue 12's attacks against a `tailor` binary and prints, per attack, the request
and what the server answered: the before/after table of the closing note, measured.

    python3 tests/adversarial/replay.py target/debug/tailor [older/tailor ...]

Each binary is started with `serve` on a fresh data directory and a free loopback port, a
victim is set up as the store's backend would (the server key where the binary has one,
else the write key, the only key older builds had), then each attack is sent with only
the public write key. Needs nothing beyond Python's standard library. Not part of the
test suite (`crates/server/tests/adversarial.rs` is; it asserts what this only prints).
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

WRITE, SERVER, ADMIN = "wk_public_demo", "ts_server_secret", "ta_admin_secret"
VICTIM, DEVICE, EMAIL = "ada-1815", "ada-laptop", "ada@example.com"
SECRETS = ["Ada", "Lovelace", EMAIL, "Analytical Engine", "engine-1"]
PLACEMENTS = ["home.hero", "promo.banner", "recs.home", "recs.cart", "onsite.message"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="tailor-replay-")
        self.port = free_port()
        env = dict(os.environ, TAILOR_WRITE_KEY=WRITE, TAILOR_SERVER_KEY=SERVER,
                   TAILOR_ADMIN_KEY=ADMIN, TAILOR_IDENTITY_SECRET="replay-identity-secret",
                   TAILOR_LOG_FORMAT="json", RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", f"{self.dir}/data", "--listen", f"127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(300):
            if self.call("GET", "/healthz", None, None)[0] or self.call("GET", "/metrics", None, None)[0]:
                break
            time.sleep(0.1)
        # Older builds have no server key: their backend sent with the write key.
        self.backend = SERVER if self.call("POST", "/v1/track", SERVER, ev("track", anonymousId="probe", event="Probe"))[0] == 200 else WRITE

    def call(self, method, path, key, body, bearer=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}" if bearer else
                           "Basic " + base64.b64encode(f"{key}:".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return 0, ""

    def admin(self, method, path, body=None):
        return self.call(method, path, ADMIN, body, bearer=True)

    def settle(self):
        time.sleep(1.2)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        subprocess.run(["rm", "-rf", self.dir])


def ev(kind, **fields):
    fields["type"] = kind
    return fields


def batch(messages):
    return {"batch": messages}


def leaks(text):
    return [s for s in SECRETS if s in text]


def cart_reason(text):
    """What the cart recommendations say of the cart (the victim's cart, were it leaked)."""
    try:
        return json.loads(text)["decisions"]["recs.cart"].get("explanation", "")
    except (ValueError, KeyError, TypeError):
        return ""


def short(status, text, n=90):
    text = " ".join(text.split())
    return f"{status} {text[:n]}{'…' if len(text) > n else ''}"


def victim(s):
    """The victim as the store's backend records her: identity, traits, consent withdrawn
    for advertising and email, a product in her cart."""
    s.call("POST", "/v1/identify", s.backend, ev(
        "identify", userId=VICTIM, anonymousId=DEVICE,
        traits={"email": EMAIL, "firstName": "Ada", "lastName": "Lovelace"},
        context={"consent": {"categoryPreferences": {"Analytics": True, "Personalization": True,
                                                     "Advertising": False, "Email": False}}}))
    for name in ["Product Viewed", "Product Viewed", "Product Added"]:
        s.call("POST", "/v1/track", s.backend, ev(
            "track", userId=VICTIM, anonymousId=DEVICE, event=name,
            properties={"product_id": "engine-1", "name": "Analytical Engine", "price": 1843.0,
                        "category": "Machines"}))
    # A crowd, so that p_N numbers exist and popular items are not the victim's alone.
    s.call("POST", "/v1/batch", s.backend, batch([ev(
        "track", userId=f"crowd-{i}", event="Product Viewed",
        properties={"product_id": f"item-{i % 7}", "name": f"Item {i % 7}", "price": 10.0})
        for i in range(60)]))
    s.settle()


def profile(s, who):
    status, text = s.admin("GET", f"/v1/profiles/{who}")
    return json.loads(text) if status == 200 else {}


def consent(p, purpose):
    c = (p.get("consent") or {}).get(purpose) or {}
    return c.get("granted") if isinstance(c, dict) else c


def decide_for(s, who):
    return s.call("POST", "/v1/decide", WRITE, dict(who, placements=PLACEMENTS))


def attacks(s):
    rows = []
    # 1. decide by a known customer's userId.
    status, text = decide_for(s, {"userId": VICTIM})
    rows.append(("decide {userId: victim}", short(status, text),
                 f"leaks {leaks(text)}; recs.cart says \"{cart_reason(text)}\""))
    # 2. decide by internal profile numbers.
    personal = 0
    leaked = 0
    for n in range(1, 31):
        status, text = decide_for(s, {"userId": f"p_{n}"})
        personal += status == 200 and '"personalized":true' in text.replace(" ", "")
        leaked += bool(leaks(text))
    rows.append(("decide {userId: p_1…p_30}", f"{personal}/30 personalized", f"{leaked} leak the victim"))
    # 3. decide by the victim's device id (anonymousId).
    status, text = decide_for(s, {"anonymousId": DEVICE})
    rows.append(("decide {anonymousId: victim's device}", short(status, text),
                 f"leaks {leaks(text)}; recs.cart says \"{cart_reason(text)}\""))
    # 4. identify hijack: the attacker's browser claims the victim's userId, new email, consent on.
    status, text = s.call("POST", "/v1/identify", WRITE, ev(
        "identify", anonymousId="attacker", userId=VICTIM, traits={"email": "attacker@evil.example"},
        context={"consent": {"categoryPreferences": {"Advertising": True, "Email": True,
                                                     "Personalization": True}}}))
    s.settle()
    p = profile(s, VICTIM)
    email = (p.get("traits") or {}).get("email")
    d_status, d_text = decide_for(s, {"anonymousId": "attacker"})
    rows.append(("identify {anonymousId: attacker, userId: victim, email, consent on}", short(status, text),
                 f"victim email={email}; advertising={consent(p, 'advertising')}; "
                 f"attacker's decide leaks {leaks(d_text)}"))
    # 5. forged preferences.
    status, text = s.call("PUT", "/v1/preferences", WRITE, {
        "userId": VICTIM, "preferences": {"channels": {"email": True, "sms": True}}})
    s.settle()
    p = profile(s, VICTIM)
    rows.append(("PUT /v1/preferences {userId: victim, channels on}", short(status, text),
                 f"victim email consent={consent(p, 'email')}"))
    # 6. merging two customers with two identify calls.
    for user in ["grace-1906", "alan-1912"]:
        s.call("POST", "/v1/identify", s.backend, ev("identify", userId=user, anonymousId=f"{user}-phone",
                                                    traits={"email": f"{user}@example.com"}))
    s.settle()
    r1 = s.call("POST", "/v1/identify", WRITE, ev("identify", anonymousId="shared-pc", userId="grace-1906"))
    r2 = s.call("POST", "/v1/identify", WRITE, ev("identify", anonymousId="shared-pc", userId="alan-1912"))
    s.settle()
    ids = profile(s, "grace-1906").get("userIds")
    rows.append(("identify shared-pc→grace, shared-pc→alan", f"{r1[0]}, {r2[0]}", f"grace's profile userIds={ids}"))
    # 7. one person with 8,400 anonymousIds (sent as the backend, in batches).
    many = "many-ids"
    for start in range(0, 8400, 200):
        s.call("POST", "/v1/batch", s.backend, batch([ev("identify", userId=many, anonymousId=f"dev-{i}")
                                                       for i in range(start, start + 200)]))
    s.settle()
    read = s.admin("GET", f"/v1/profiles/{many}")[0]
    export = s.admin("GET", f"/v1/profiles/{many}/export")[0]
    erase = s.admin("DELETE", f"/v1/profiles/{many}")[0]
    rows.append(("8,400 identify for one userId; then admin read / export / erase", "",
                 f"read {read}, export {export}, erase {erase}"))
    # 8. an order of 1e308.
    status, text = s.call("POST", "/v1/track", WRITE, ev(
        "track", anonymousId="big-spender", event="Order Completed", properties={"total": 1e308}))
    rows.append(("track Order Completed {total: 1e308}", short(status, text), ""))
    # 9. 500 idle connections: how many are still open after 40 s.
    sockets = []
    for _ in range(500):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
        except OSError:
            break
    time.sleep(40)
    open_ = 0
    for c in sockets:
        c.setblocking(False)
        try:
            open_ += c.recv(1) != b""
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
        c.close()
    rows.append((f"{len(sockets)} idle connections, 40 s later", "", f"{open_} still open"))
    return rows


def main():
    for binary in sys.argv[1:]:
        s = Server(binary)
        try:
            victim(s)
            print(f"\n## {binary} (backend key: {'server' if s.backend == SERVER else 'write'})\n")
            print("| attack (write key only) | answer | effect |\n|---|---|---|")
            for attack, answer, effect in attacks(s):
                print(f"| {attack} | `{answer}` | {effect} |")
        finally:
            s.stop()


if __name__ == "__main__":
    main()
