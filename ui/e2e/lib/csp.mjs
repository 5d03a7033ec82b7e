// The Content-Security-Policy the headless node serves the UI with. It is stricter than the
// desktop shell's, so a page that works under it works there too.
export const CSP =
  "default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; " +
  "img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";
