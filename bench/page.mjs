// The benchmark page: a generated shop page of exactly 5,000 elements (document.getElementsByTagName('*'))
// with the meta tags, cookies, query string and JS globals the 20 rules of rules/capture.json read.
// One body for every variant; only the agent's script tags differ:
//   none      no agent
//   rumprops  the script-tag loader (www/dist/rumprops.js), config inline in data-config
//   datadog   @datadog/browser-rum's CDN bundle, DD_RUM.init with `proxy` at the local sink
//   elastic   @elastic/apm-rum's UMD bundle, elasticApm.init with serverUrl at the local sink
//   capture   rumprops plus the plain JavaScript reference (pages/reference.js)
//   profile   as capture, with the module built with its function names (bench/out/named)
//   wire<N>   rumprops with the 10 rules of rules/wire.json and batches of N actions
// All agents load with <script async> and start when their script has run.

export const ELEMENTS = 5000;
export const QUERY = '?utm_campaign=Spring+Sale&page=3&max=249.99&ref=%20newsletter%20&sort=price&view=grid&lang=de&x=1';

const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function agentTags(variant, { config, intake }) {
  const rumprops = `<script async src="/dist/rumprops.js" data-config="${esc(JSON.stringify(config))}"></script>`;
  switch (variant) {
    case 'none':
      return '';
    case 'rumprops':
      return rumprops;
    case 'wire1': case 'wire10': case 'wire50':
      return rumprops;
    case 'capture':
      return `<script src="/bench/reference.js"></script>\n${rumprops}`;
    case 'profile': // the same module built with its function names (bench/out/named), for CPU profiles
      return `<script src="/bench/reference.js"></script>\n${rumprops.replace('/dist/', '/named/')}`;
    case 'datadog': {
      const init = {
        applicationId: '00000000-0000-4000-8000-000000000000',
        clientToken: 'pub00000000000000000000000000000000',
        site: 'datadoghq.com',
        service: 'bench',
        proxy: intake + '/intake/datadog',
        sessionSampleRate: 100,
        sessionReplaySampleRate: 0,
        trackUserInteractions: true,
        trackResources: true,
        trackLongTasks: true,
      };
      return `<script async src="/peers/@datadog/browser-rum/bundle/datadog-rum.js" onload="DD_RUM.init(${esc(JSON.stringify(init))})"></script>`;
    }
    case 'elastic': {
      const init = { serviceName: 'bench', serverUrl: intake + '/intake/elastic', centralConfig: false };
      return `<script async src="/peers/@elastic/apm-rum/dist/bundles/elastic-apm-rum.umd.min.js" onload="elasticApm.init(${esc(JSON.stringify(init))})"></script>`;
    }
    default:
      throw new Error('unknown variant ' + variant);
  }
}

const HEAD_SCRIPT = `<script>
// Long tasks from the start of the page.
window.__longtasks = [];
try {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longtasks.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
} catch (e) { /* no long task API */ }
// Cookies (4 read by rules, 6 more), set by the page itself.
for (const c of ['sessionid=9f8e7d6c5b4a', 'currency=EUR', 'consent=granted%3Aall', 'since=2024-01-31', 'theme=dark',
  'ab=17', '_ga=GA1.2.1234567890.1732600000', 'region=%20eu%2Dwest%201', 'cart_id=c-8812', 'last_seen=1732600000000']) {
  document.cookie = c + '; path=/; SameSite=Lax';
}
// JS globals (4 read by rules).
window.dataLayer = [{ event: 'pageview', user: { tier: 'Gold', visits: 42, id: 'u-1001' } }];
window.app = { state: '{"cart":{"total":59.9,"items":3},"currency":"EUR"}', lastOrder: new Date(Date.UTC(2026, 10, 20, 8, 30, 0, 123)) };
</script>`;

const METAS = [
  ['charset', 'utf-8'], ['viewport', 'width=device-width, initial-scale=1'], ['description', 'Bench shop: 480 products'],
  ['og:title', 'Bench shop'], ['og:site_name', 'Bench'], ['twitter:card', 'summary'], ['theme-color', '#fff'],
  ['robots', 'index,follow'], ['author', 'rumprops'], ['referrer', 'strict-origin'], ['application-name', 'shop'],
  ['generator', 'bench'], ['format-detection', 'telephone=no'], ['keywords', 'shop, bench'], ['rating', 'general'],
  ['og:locale', 'de_DE'],
];

export function pageHtml(variant, opts) {
  const metas = METAS.map(([n, c]) => (n === 'charset' ? '<meta charset="utf-8">' : `<meta name="${n}" content="${c}">`));
  // The four meta rules: by property, by name in another case, a long and a date.
  metas.splice(5, 0, '<meta property="og:type" content="product.group">');
  metas.splice(9, 0, '<meta name="LOYALTY" content="  Gold Plus ">');
  metas.push('<meta name="build-number" content="20261126">');
  metas.push('<meta property="article:published_time" content="2026-11-20T08:30:00.123+01:00">');
  const head = `<head>\n${metas.join('\n')}\n<title>Bench shop</title>\n${HEAD_SCRIPT}\n${agentTags(variant, opts)}\n</head>`;

  const products = [];
  for (let i = 0; i < 480; i++) {
    const sku = 'P-' + String(i).padStart(4, '0');
    products.push(`<li class="product" data-sku="${sku}"><h3 class="name">Product ${i}</h3><img alt="" width="1" height="1">`
      + `<span class="price">${(i * 1.37 + 5).toFixed(2)} EUR</span><span class="stock">in stock</span>`
      + `<a href="#p${i}">details</a><p><b>new</b> <i>${i % 7} reviews</i></p><button type="button">Add</button></li>`);
  }
  const nav = '<nav><ul class="breadcrumb"><li>Home</li><li>Shop</li><li>\n   Garden   &amp;\n  Outdoor </li></ul></nav>';
  const cart = '<div id="cart"><span class="count">  3 items </span><span class="total">Total:\n 59.90 EUR</span>'
    + '<form><input id="coupon" value="  SPRING2026 "><input type="password" id="pw" value="secret"></form></div>';
  let body = `<body>\n<header>${nav}</header>\n<main><ul id="products">\n${products.join('\n')}\n</ul>\n${cart}</main>\n<footer>FILL</footer>\n</body>`;
  const count = (s) => (s.match(/<[a-z][a-z0-9]*[\s>]/g) || []).length;
  const base = count(head) + count(body) + 1; // + <html>
  const fill = ELEMENTS - base;
  if (fill < 0) throw new Error('page over budget by ' + -fill);
  body = body.replace('FILL', '<span></span>'.repeat(fill));
  return `<!doctype html>\n<html lang="en">\n${head}\n${body}\n</html>\n`;
}
