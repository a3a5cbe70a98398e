// The pages' entry: the navigation, the hash router (#/search, #/learnware/ID
// ...: every page has an address that survives a reload, and the server
// serves one file) and the page modules it hands the <main> element to.
import {session, refreshUser, isAdmin, post} from './api.mjs';
import {h, clear, notice} from './dom.mjs';
import * as home from './page_home.mjs';
import * as search from './page_search.mjs';
import * as learnware from './page_learnware.mjs';
import * as submit from './page_submit.mjs';
import * as mine from './page_mine.mjs';
import * as account from './page_account.mjs';
import * as admin from './page_admin.mjs';

// path pattern -> [title, render(main, params, query), who may open it]
const routes = [
  ['', 'Home', home.render, 'anyone'],
  ['search', 'Search', search.render, 'anyone'],
  ['learnware/:id', 'Learnware', learnware.render, 'anyone'],
  ['submit', 'Submit', submit.render, 'user'],
  ['mine', 'My learnwares', mine.render, 'user'],
  ['tokens', 'Client tokens', account.renderTokens, 'user'],
  ['account', 'Account', account.renderAccount, 'user'],
  ['login', 'Log in', account.renderLogin, 'anyone'],
  ['register', 'Register', account.renderRegister, 'anyone'],
  ['reset', 'Reset password', account.renderReset, 'anyone'],
  ['admin', 'Administration', admin.renderSummary, 'admin'],
  ['admin/learnwares', 'All learnwares', admin.renderLearnwares, 'admin'],
  ['admin/users', 'Users', admin.renderUsers, 'admin'],
];

function match(path) {
  const parts = path.split('/').filter(Boolean);
  for (const [pattern, title, render, who] of routes) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    if (want.every((w, i) => (w.startsWith(':') ? ((params[w.slice(1)] = decodeURIComponent(parts[i])), true) : w === parts[i])))
      return {pattern, title, render, who, params};
  }
  return null;
}

function drawNav(current) {
  const link = (href, text) => h('a', {href, 'aria-current': current === href ? 'page' : null}, text);
  const items = [link('#/', 'Home'), link('#/search', 'Search')];
  if (session.user) {
    items.push(link('#/submit', 'Submit'), link('#/mine', 'My learnwares'), link('#/tokens', 'Tokens'));
    if (isAdmin()) items.push(link('#/admin', 'Admin'));
    items.push(link('#/account', session.user.name),
               h('button', {type: 'button', class: 'link', onclick: logOut}, 'Log out'));
  } else {
    items.push(link('#/login', 'Log in'), link('#/register', 'Register'));
  }
  clear(document.getElementById('nav'), h('ul', {}, items.map((i) => h('li', {}, i))));
}

async function logOut() {
  try { await post('/api/auth/logout'); } catch { /* the token is dropped either way */ }
  session.token = null;
  session.user = null;
  location.hash = '#/';
  await show();
}

let showing = 0;
export async function show() {
  const ticket = ++showing;
  const [path, queryText] = (location.hash.replace(/^#\/?/, '') || '').split('?');
  const main = document.getElementById('main');
  const route = match(path);
  drawNav(`#/${route ? path : ''}`.replace(/\/$/, '/'));
  document.querySelector('.menu-toggle')?.setAttribute('aria-expanded', 'false');
  document.getElementById('nav').classList.remove('open');
  if (!route) {
    document.title = 'Not found · Learnware dock';
    clear(main, h('h1', {}, 'No such page'), notice('error', 'This address is not a page of the dock. ',
                                                   h('a', {href: '#/'}, 'Go to the home page.')));
    return;
  }
  document.title = `${route.title} · Learnware dock`;
  if (route.who !== 'anyone' && !session.user) {
    clear(main, h('h1', {}, route.title),
          notice('error', 'Log in to open this page. ', h('a', {href: `#/login?next=${encodeURIComponent(path)}`}, 'Log in')));
    return;
  }
  if (route.who === 'admin' && !isAdmin()) {
    clear(main, h('h1', {}, route.title),
          notice('error', 'This page is for the dock\'s administrators; your account is not one.'));
    return;
  }
  clear(main, h('p', {class: 'loading'}, 'Loading…'));
  const query = Object.fromEntries(new URLSearchParams(queryText || ''));
  try {
    await route.render(main, route.params, query, () => ticket !== showing);
  } catch (e) {
    if (ticket !== showing) return;
    clear(main, h('h1', {}, route.title), notice('error', e.message || String(e)));
  }
  if (ticket === showing && document.activeElement === document.body) main.focus({preventScroll: true});
}

window.addEventListener('hashchange', show);
window.addEventListener('lwdock:logged-out', () => drawNav(''));
window.addEventListener('lwdock:logged-in', show);
document.querySelector('.menu-toggle').addEventListener('click', (e) => {
  const nav = document.getElementById('nav');
  const open = nav.classList.toggle('open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
});

(async () => {
  try { await refreshUser(); } catch { /* shown by the page that needs it */ }
  await show();
})();
