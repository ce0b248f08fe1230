// The JS globals of capture.html, from a file so that a page with `script-src 'self'` runs them.
window.shop = {
  big: 9223372036854775807n,
  small: -9223372036854775808n,
  count: 42,
  ratio: 0.25,
  opened: new Date(Date.UTC(2023, 4, 17, 8, 0, 0)),
  flag: true,
  user: '{"tier":"PLATINUM","id":9223372036854775807,"score":1e3}',
};
