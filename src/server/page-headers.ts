// The headers of every HTML page the adapter answers (the console's pages and error pages, the
// ACR Connect sign-in pages): no framing by another site (X-Frame-Options for older browsers,
// CSP frame-ancestors for the others), scripts and styles only from the adapter itself, forms
// posted only to it, no sniffing, no referrer, no caching.
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};
