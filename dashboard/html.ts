// HTML building blocks of the compliance page and the portal: one escape function that every
// interpolated value goes through (names, labels, messages and annotations are written by
// tenants), and one page layout. Pages carry no script at all, and the server's
// Content-Security-Policy forbids any, so markup that slipped through would still be inert.

/** Escapes text for an HTML element or a double- or single-quoted attribute. */
export const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A path of escaped, URI-encoded segments: `/portal/teams/a%2Fb`. */
export const path = (...segments: string[]): string => segments.map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join('/');

/** No script, no remote anything: styles inline, images (none today) only from here. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2330}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid #dde;padding:.3rem .7rem;text-align:left;vertical-align:top}
th{background:#f3f4f8}.bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34;font-weight:600}.num{text-align:right}.muted{color:#5a6275}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #dde;border-radius:6px;padding:.6rem 1rem}.big{font-size:1.6rem}
nav{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #dde;padding-bottom:.5rem}nav .who{margin-left:auto;color:#5a6275}
.chain{font-size:.95rem}.chain a{text-decoration:none}code{background:#f3f4f8;padding:0 .25rem;border-radius:3px}
.phase-Ready{color:#1e7b34}.phase-Failed{color:#b3261e}.phase-Deploying,.phase-Pending{color:#8a5a00}`;

export interface Layout {
  title: string;
  /** Appended to the title: "KIDP compliance" or "KIDP portal". */
  suffix: string;
  body: string;
  /** The signed-in user, shown in the navigation with a sign-out link. */
  user?: string;
}

export function page(layout: Layout): string {
  const who = layout.user ? `<span class="who" data-testid="user">${esc(layout.user)} · <a href="/logout">sign out</a></span>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(layout.title)} — ${esc(layout.suffix)}</title>
<style>${STYLE}</style></head><body><nav><a href="/">Compliance overview</a><a href="/portal">Teams</a>${who}</nav>${layout.body}</body></html>`;
}
