"""An XSS corpus goes into every user-writable text field the API offers; then Chromium crawls
the public pages and the staff pages that show those texts. Nothing may execute: no injected
script element, no event-handler attribute, no javascript: link, no template evaluation."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conftest import code_in
from e2e.conftest import browser, e2e_mailbox, live_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '<svg onload="window.__xss=1"><circle r=1></circle></svg>',
    '"><iframe src="javascript:window.__xss=1"></iframe>',
    "[点我](javascript:window.__xss=1)",
    "{{ 7*7 }}{% raw %}x{% endraw %}${7*7}",
    "<a href=\"javascript:window.__xss=1\">链接</a>",
    "<style>body{display:none}</style><b onmouseover=window.__xss=1>悬停</b>",
]
XSS = "\n".join(PAYLOADS)

DOM_CHECK = """() => {
  const bad = [];
  document.querySelectorAll('script').forEach(s => { if (!s.src) bad.push('inline script: ' + s.textContent.slice(0, 60)); });
  document.querySelectorAll('*').forEach(el => {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) bad.push(el.tagName + ' ' + a.name);
      if ((a.name === 'href' || a.name === 'src') && a.value.trim().toLowerCase().startsWith('javascript:')) bad.push(el.tagName + ' ' + a.name + '=' + a.value);
    }
  });
  document.querySelectorAll('iframe, style:not([data-allowed])').forEach(el => { if (el.tagName === 'IFRAME' || el.textContent.includes('display:none')) bad.push(el.tagName); });
  if (window.__xss) bad.push('window.__xss set');
  // Evaluated, the payload "{{ 7*7 }}{% raw %}x{% endraw %}" would read "49x".
  if (document.body.innerText.includes('49x')) bad.push('template evaluated');
  return bad;
}"""


def _now(delta: timedelta = timedelta(0)) -> str:
    from datetime import UTC, datetime

    return (datetime.now(UTC) + delta).isoformat()


def _resident_token(server, mailbox, address: str) -> dict[str, str]:
    httpx.post(server.url + "/api/v1/auth/code", json={"email": address}).raise_for_status()
    deadline = time.monotonic() + 15
    while not mailbox.to(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    r = httpx.post(server.url + "/api/v1/auth/token", json={"email": address, "code": code_in(mailbox.to(address)[-1])})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _admin(server) -> dict[str, str]:
    canyu = Path(sys.executable).parent / "canyu"
    subprocess.run([str(canyu), "staff", "create", "xssadmin", "--role", "admin", "--password-stdin"],
                   input=b"xss admin password\n", env=server.env, check=True, capture_output=True)
    r = httpx.post(server.url + "/api/v1/staff/token", json={"username": "xssadmin", "password": "xss admin password"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _seed(server, mailbox) -> list[str]:
    """Create content with the corpus in every text field; returns public pages to check."""
    admin = _admin(server)
    resident = _resident_token(server, mailbox, "xss.resident@example.com")
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as api:
        api.put("/me", headers=resident, json={"name": "<script>x</script>"})  # refused, fine
        pages = []
        c = api.post("/consultations", headers=admin, json={
            "title": "征求意见 " + PAYLOADS[0], "kind": "other", "body": XSS, "basis": XSS, "contact": PAYLOADS[1],
            "interpretation": XSS, "opens_at": _now(-timedelta(hours=1)), "closes_at": _now(timedelta(days=40)),
            "period_reason": XSS, "sections": [{"title": "第一条 " + PAYLOADS[1], "body": XSS}], "published": True,
        })
        assert c.status_code == 201, c.text
        cid = c.json()["id"]
        pages.append(f"/consultations/{cid}")
        comment = api.post(f"/consultations/{cid}/comments", headers=resident, json={"body": XSS[:900]})
        assert comment.status_code == 201, comment.text
        api.post(f"/comments/{comment.json()['id']}/moderation", headers=admin, json={"decision": "publish", "reason": XSS[:200]})
        e = api.post("/events", headers=admin, json={
            "title": "开放活动 " + PAYLOADS[2][:60], "summary": XSS, "theme": "民心工程", "mode": "hybrid",
            "location": PAYLOADS[1], "stream_url": "javascript:window.__xss=1",
            "starts_at": _now(timedelta(days=10)), "ends_at": _now(timedelta(days=10, hours=2)), "capacity": 20,
            "registration_opens_at": _now(-timedelta(hours=1)), "registration_closes_at": _now(timedelta(days=9)),
            "max_companions": 1, "published": True, "requirements": XSS[:1900],
        })
        if e.status_code == 422:  # a javascript: stream link is refused: good; try an https one
            assert "error" in e.json()
            e = api.post("/events", headers=admin, json={
                "title": "开放活动 " + PAYLOADS[2][:60], "summary": XSS, "theme": "民心工程", "mode": "hybrid",
                "location": PAYLOADS[1], "stream_url": "https://live.example.cn/" + "%3Cscript%3E",
                "starts_at": _now(timedelta(days=10)), "ends_at": _now(timedelta(days=10, hours=2)), "capacity": 20,
                "registration_opens_at": _now(-timedelta(hours=1)), "registration_closes_at": _now(timedelta(days=9)),
                "max_companions": 1, "published": True, "requirements": XSS[:1900],
            })
        assert e.status_code == 201, e.text
        eid = e.json()["id"]
        pages.append(f"/events/{eid}")
        api.post(f"/events/{eid}/registrations", headers=resident, json={"companions": 0})
        v = api.post("/campaigns", headers=admin, json={
            "title": "评选 " + PAYLOADS[3][:60], "rules": XSS, "opens_at": _now(-timedelta(hours=1)),
            "closes_at": _now(timedelta(days=5)), "ballots_per_day": 1, "choices_per_ballot": 1,
            "public_weight": 0.7, "expert_weight": 0.3,
            "candidates": [{"title": PAYLOADS[0][:100], "summary": XSS[:1900]}, {"event_id": eid}],
        })
        assert v.status_code == 201, v.text
        pages.append(f"/campaigns/{v.json()['id']}")
        m = api.post("/meetings", headers=admin, json={
            "title": "常务会议 " + PAYLOADS[4], "meets_at": _now(timedelta(days=20)),
            "topics": [PAYLOADS[0], PAYLOADS[6]], "applications_open_at": _now(-timedelta(hours=1)),
            "applications_close_at": _now(timedelta(days=10)), "seats": 2, "alternates": 1, "quotas": {},
        })
        assert m.status_code == 201, m.text
        mid = m.json()["id"]
        pages.append(f"/meetings/{mid}")
        api.post(f"/meetings/{mid}/applications", headers=resident, json={
            "name": "王<b>五</b>", "gender": "男", "birth_year": 1980, "district": "花木街道",
            "occupation": PAYLOADS[1][:90], "category": "市民", "reason": XSS[:1900],
            "no_conflict": True, "consent": True,
        })
    return pages


def _crawl(page, start: str, prefixes: tuple[str, ...], limit: int) -> dict[str, list[str]]:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(start))
    seen: set[str] = set()
    queue = [start]
    problems: dict[str, list[str]] = {}
    while queue and len(seen) < limit:
        url = queue.pop(0)
        path = urlsplit(url).path
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(url)
        if response is None or response.status >= 400 or "html" not in (response.headers.get("content-type") or ""):
            continue
        bad = page.evaluate(DOM_CHECK)
        if bad:
            problems[path] = bad
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urljoin(url, href)
            parts = urlsplit(target)
            if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith(prefixes):
                continue
            if any(parts.path.endswith(ext) for ext in (".csv", ".xlsx", ".json", ".ics", ".png", ".pdf")):
                continue
            if parts.path not in seen:
                queue.append(f"{origin}{parts.path}")
    return problems


def test_no_user_text_executes_anywhere(browser, live_server, e2e_mailbox):  # noqa: F811
    pages = _seed(live_server, e2e_mailbox)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    problems = {}
    for path in pages:
        problems.update(_crawl(page, live_server.url + path, (path,), 1))
    problems.update(_crawl(page, live_server.url + "/", ("/consultations", "/events", "/campaigns", "/meetings", "/board"), 40))
    # Staff pages, where residents' texts are reviewed.
    page.goto(live_server.url + "/staff/signin")
    page.get_by_label("用户名").fill("xssadmin")
    page.get_by_label("密码").fill("xss admin password")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/staff")
    problems.update(_crawl(page, live_server.url + "/staff", ("/staff", "/admin"), 60))
    context.close()
    assert not dialogs, dialogs
    assert not problems, problems
