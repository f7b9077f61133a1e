"""The page's own requests (gateway/static/app.js), run in Node with a stand-in for jQuery and the
browser: the key cookie is SameSite=Strict everywhere and Secure behind HTTPS, and every request
carries the client header that GATEWAY_AUTH=off asks of writes."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nauplius.core.contracts.gateway import CLIENT_HEADER

APP_JS = Path(__file__).resolve().parents[2] / "gateway" / "static" / "app.js"
NODE = shutil.which("node")

# app.js runs at start-up: it signs in with the stored key (setting the cookie) and asks /me.
# Every jQuery call answers a chainable stand-in; $.ajax records what it was asked.
HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const cookies = [], requests = [];
const chain = new Proxy(function () {}, {
  get: (_, name) => name === Symbol.toPrimitive ? () => "" : (name === "length" ? 0 : chain),
  apply: () => chain,
});
const $ = new Proxy(function (arg) { if (typeof arg === "function") { arg(); } return chain; }, {
  get: (_, name) => {
    if (name === "ajax") { return (settings) => { requests.push(settings); return chain; }; }
    if (name === "extend") { return (...objects) => Object.assign({}, ...objects); }
    return chain;
  },
});
const document = {};
Object.defineProperty(document, "cookie", { set: (value) => cookies.push(value) });
const context = {
  $, document, location: { protocol: process.argv[2] },
  localStorage: { getItem: (name) => name === "nauplius.apiKey" ? "npl_key" : null,
                  setItem() {}, removeItem() {} },
  setInterval() {}, setTimeout(fn) { fn(); }, console, window: {},
};
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), context);
console.log(JSON.stringify({ cookies, headers: requests.map((r) => r.headers) }));
"""

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")


def _start_page(protocol: str) -> dict:
    assert NODE is not None
    done = subprocess.run([NODE, "-e", HARNESS, str(APP_JS), protocol], capture_output=True,
                          text=True, check=True, timeout=60)
    result: dict = json.loads(done.stdout)
    return result


def _key_cookie(cookies: list[str]) -> str:
    [cookie] = [c for c in cookies if c.startswith("nauplius_api_key=npl_key")]
    return cookie


def test_the_key_cookie_is_secure_behind_https() -> None:
    cookie = _key_cookie(_start_page("https:")["cookies"])
    attributes = [part.strip() for part in cookie.split(";")]
    assert "Secure" in attributes and "SameSite=Strict" in attributes and "path=/" in attributes


def test_the_key_cookie_is_not_secure_over_plain_http() -> None:
    # Secure over http:// would make the browser drop it, and a workstation serves plain HTTP.
    cookie = _key_cookie(_start_page("http:")["cookies"])
    assert "Secure" not in cookie and "SameSite=Strict" in cookie


def test_every_request_sends_the_client_header_and_the_key() -> None:
    headers = _start_page("http:")["headers"]
    assert headers, "the page sent no request at start"
    assert all(h[CLIENT_HEADER] == "1" and h["Authorization"] == "Bearer npl_key" for h in headers)
