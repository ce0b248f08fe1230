// The data layer of the hashed-values test (tests/e2e/hash.test.mjs), from a file so that a page
// with `script-src 'self'` runs it.
window.dataLayer = [{ user: { email: '  Jane.Doe@Example.COM ' } }];
