"""The dashboard's page shell: one HTML skeleton, the nav bar, our CSS, and the HTML response with its CSP.

Every dashboard page (jobs, one job, data browser, review) is ``page(title, body, script=...)``
returned through ``respond``. CSS and JavaScript are inline and our own; the
Content-Security-Policy allows no other origin (``default-src 'none'``, fetches
only to ``'self'``) and lists each inline script by its SHA-256, so the browser
itself refuses any request off the machine and any script we did not write.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape

from aiohttp import web

__all__ = ["page", "respond", "NAV", "esc"]

# (label, href) of the nav bar; a page marks its own entry as current by passing ``nav=href``.
NAV: tuple[tuple[str, str], ...] = (("Jobs", "/"), ("Reviews", "/reviews"))

esc = escape  # every text we put into HTML goes through here (quote=True also covers attribute values)

NO_SCRIPT = "'none'"
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)

CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#f6f7f9;--card:#fff;--accent:#2f5fd0;--ok:#1f8a4c;
--warn:#b7791f;--bad:#c0392b;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg)}
header{background:#1d2330;color:#fff;display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em}
header .brand{font-weight:600;letter-spacing:.02em}header a{color:#cfd8ea;text-decoration:none}
header a.current{color:#fff;border-bottom:2px solid #fff}
main{max-width:1200px;margin:0 auto;padding:1em 1.2em 3em}
h1{font-size:1.35em;margin:.6em 0}h2{font-size:1.1em;margin:1.4em 0 .5em}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8em 1em;margin:.8em 0}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{text-align:left;padding:.4em .55em;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.88em}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}.small{font-size:.86em}.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
.state{display:inline-block;padding:.05em .5em;border-radius:9px;font-size:.85em;background:#e8ebf1}
.state-running{background:#dcefe3;color:var(--ok)}.state-failed{background:#f6dcd9;color:var(--bad)}
.state-paused{background:#f7ecd7;color:var(--warn)}.state-done{background:#dde6f7;color:var(--accent)}
.bar{height:.55em;background:#e8ebf1;border-radius:3px;overflow:hidden;min-width:6em}
.bar>span{display:block;height:100%;background:var(--accent)}
button,input,select{font:inherit}button{border:1px solid var(--line);background:#fff;border-radius:4px;
padding:.2em .7em;cursor:pointer}button:hover{border-color:var(--accent)}button:disabled{opacity:.45;cursor:default}
button.primary{background:var(--accent);color:#fff;border-color:var(--accent)}
input,select{border:1px solid var(--line);border-radius:4px;padding:.25em .45em;background:#fff}
form.inline{display:flex;flex-wrap:wrap;gap:.6em;align-items:end}form.inline label{display:flex;flex-direction:column;
font-size:.85em;color:var(--muted);gap:.2em}
.msg{min-height:1.2em;font-size:.9em}.msg.error{color:var(--bad)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:1em}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em}.kv dt{color:var(--muted)}.kv dd{margin:0}
.pager{display:flex;gap:.8em;align-items:center;margin:.6em 0}
svg text{font-family:inherit;font-size:11px;fill:var(--muted)}
.up{color:var(--ok)}.down{color:var(--bad)}
pre{white-space:pre-wrap;margin:.2em 0;font-family:inherit}
"""


def page(title: str, body: str, *, script: str | None = None, nav: str | None = None,
         style: str | None = None) -> str:
    """A whole HTML document: ``title`` is plain text (escaped here); ``body``, ``script`` and ``style`` (a
    page's own CSS, after the shared one) are ours, unescaped.

    ``script`` must not contain ``</script>``; ``respond`` allows it by hash.
    """
    links = "".join(f'<a href="{esc(href)}"{" class=current" if href == nav else ""}>{esc(label)}</a>'
                    for label, href in NAV)
    tail = f"<script>{script}</script>" if script else ""
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} · selfinstruct</title><style>{CSS}{style or ''}</style></head>"
            f'<body><header><span class=brand>selfinstruct</span>{links}</header>'
            f"<main>{body}</main>{tail}</body></html>")


def respond(html: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """The page as a response whose CSP allows only this origin and exactly the page's own inline scripts."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in _SCRIPT.findall(html))
    csp = (f"default-src 'none'; script-src {hashes or NO_SCRIPT}; style-src 'unsafe-inline'; "
           "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", **(headers or {})})
