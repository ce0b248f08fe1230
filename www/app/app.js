// The app shell: sign-in with a token (kept in this tab's sessionStorage), the hash router, the
// pages. A `#token=…` link (what `make demo` prints) signs in and is removed from the address
// at once; fragments never reach a server, so the token is in no request line or log.

import { api, h, token, clear, errorBox } from './lib.js';

const PAGES = {
  sessions: () => import('./pages/sessions.js'),
  session: () => import('./pages/session.js'),
  analysis: () => import('./pages/analysis.js'),
  metrics: () => import('./pages/metrics.js'),
  alerts: () => import('./pages/alerts.js'),
  dashboards: () => import('./pages/dashboards.js'),
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

function takeFragmentToken() {
  const m = location.hash.match(/^#token=([^&]+)/);
  if (!m) return;
  token.set(decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + '#/sessions');
}

function signInForm(message) {
  nav.hidden = true;
  const input = h('input', { type: 'password', 'aria-label': 'API token', 'data-testid': 'token', autocomplete: 'off', size: 50, placeholder: 'rp_…' });
  clear(main).append(h('form', { class: 'panel signin', 'data-testid': 'signin', onsubmit: (e) => {
    e.preventDefault();
    token.set(input.value.trim());
    route();
  } },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Paste an API token (', h('code', {}, 'rumprops token create --scope read --scope write'), '). It stays in this tab only.'),
    message ? errorBox(message) : null,
    h('div', { class: 'row' }, input, h('button', { 'data-testid': 'signin-button' }, 'Sign in'))));
  input.focus();
}

let scopes = null;

async function route() {
  takeFragmentToken();
  if (!token.get()) return signInForm();
  const [path] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...rest] = path.split('/');
  const page = PAGES[name] ? name : 'sessions';
  // The page's module loads while the token is checked.
  const loading = PAGES[page]();
  if (!scopes) {
    try {
      ({ scopes } = await api('/api/v1/auth/self'));
    } catch (e) {
      token.clear();
      return signInForm(e.status === 401 ? 'That token is not valid here.' : e);
    }
    who.textContent = `signed in · ${scopes.join(', ')}`;
  }
  nav.hidden = false;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === (page === 'session' ? 'sessions' : page));
  clear(main);
  try {
    const mod = await loading;
    await mod.render(main, rest.map(decodeURIComponent).join('/') || undefined, { scopes });
  } catch (e) {
    main.append(errorBox(e));
  }
  document.body.dataset.ready = page;
}

document.getElementById('signout').addEventListener('click', () => { token.clear(); scopes = null; who.textContent = ''; signInForm(); });
window.addEventListener('rumprops:signed-out', () => { if (token.get()) { token.clear(); scopes = null; signInForm('The collector refused the token (401).'); } });
window.addEventListener('hashchange', () => { document.body.dataset.ready = ''; route(); });
route();
