"""Test-site pages for issue 14's captures: a consent banner, a members-only page, a document.

Installed on the shared `TestSite` through its `extra_routes`, so they live
beside the site's own pages without changing them.
"""

from __future__ import annotations

from tests.site import SiteHandler, TestSite, make_pdf

BANNER_TEXT = "COOKIEBANNER we value your privacy"
ARTICLE_TEXT = "The archived article about amber resin and fossil insects."
SESSION_COOKIE = "amber_session"
SESSION_VALUE = "s3cr3t-session-7f1c9a2b"
MEMBERS_TEXT = "Members only treasure map"
LOGIN_TEXT = "Please log in to continue"
PDF_WORD = "Quetzalcoatlus"
DOC_PDF = make_pdf(f"Field notes on {PDF_WORD} wingspans")

# A CookieYes banner as its script renders it (autoconsent's `cookieyes` rule), over a
# magenta overlay covering the page, so a screenshot that still shows it is easy to spot.
CONSENT_PAGE = f"""<!doctype html>
<html><head><title>Consent page</title>
<style>
  body {{ margin: 0; font-family: sans-serif; background: #ffffff; }}
  main {{ padding: 40px; font-size: 20px; }}
  .cky-overlay {{ position: fixed; inset: 0; background: rgb(255, 0, 255); z-index: 10; }}
  .cky-consent-container {{ position: fixed; left: 0; right: 0; bottom: 0; height: 300px;
    background: rgb(255, 0, 255); z-index: 11; padding: 20px; }}
</style></head>
<body>
<main><h1>Amber resin</h1><p>{ARTICLE_TEXT}</p></main>
<div class="cky-overlay"></div>
<div class="cky-consent-container">
  <p>{BANNER_TEXT}</p>
  <button data-cky-tag="accept-button">Accept all</button>
  <button data-cky-tag="reject-button">Reject all</button>
</div>
<script>
  document.querySelector('[data-cky-tag=reject-button]').addEventListener('click', () => {{
    document.cookie = 'cookieyes-consent=advertisement:no; path=/';
    document.querySelector('.cky-consent-container').remove();
    document.querySelector('.cky-overlay').remove();
  }});
</script>
</body></html>
"""


def consent(h: SiteHandler) -> None:
    h.send(200, CONSENT_PAGE.encode(), "text/html; charset=utf-8")


def members(h: SiteHandler) -> None:
    """The content with the session cookie, a login page without it."""
    cookies = h.headers.get("Cookie", "")
    if f"{SESSION_COOKIE}={SESSION_VALUE}" in cookies:
        body = f"<!doctype html><title>Members</title><h1>{MEMBERS_TEXT}</h1>"
    else:
        body = f"<!doctype html><title>Log in</title><form><p>{LOGIN_TEXT}</p></form>"
    h.send(200, body.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})


def document(h: SiteHandler) -> None:
    h.send(200, DOC_PDF, "application/pdf")


def install(site: TestSite) -> TestSite:
    site.extra_routes.update(
        {"/consent.html": consent, "/members.html": members, "/docs/notes.pdf": document}
    )
    return site
