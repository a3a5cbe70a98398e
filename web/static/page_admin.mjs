// Administration: the market at a glance (charts), every learnware whatever
// its status, and the users.
import {get, del, post, put, query, session} from './api.mjs';
import {h, clear, notice, field, button, table, pager, badge, bytes, when} from './dom.mjs';

function tabs(current) {
  const link = (href, text) => h('a', {href, 'aria-current': current === href ? 'page' : null}, text);
  return h('nav', {class: 'tabs', 'aria-label': 'administration'},
           link('#/admin', 'Summary'), link('#/admin/learnwares', 'Learnwares'), link('#/admin/users', 'Users'));
}

const PALETTE = ['#1f5f8b', '#e07b39', '#3a9d5d', '#b8413c', '#7d5ba6', '#8c6d31', '#c2549d', '#5a6b7b'];

const STATUS_COLOURS = {usable: '#2f7d4a', 'not usable': '#b8413c', invalid: '#7f1a14', waiting: '#e0a030', processing: '#1f5f8b'};

// height: px of the drawing (bar charts grow with their bars, so one bar is not a slab)
function chart(kind, title, labels, datasets, extra = {}, height = 320) {
  const canvas = h('canvas', {role: 'img', 'aria-label': `${title}: ${labels.map((l, i) => `${l} ${datasets.map((d) => d.data[i]).join('/')}`).join(', ')}`});
  const plotBox = h('div', {class: 'plot'}, canvas);
  plotBox.style.height = `${height}px`;  // through the CSSOM: the pages' policy forbids style attributes
  const box = h('figure', {class: 'chart'}, h('figcaption', {}, title), plotBox);
  if (!window.Chart) {
    box.append(notice('info', 'Charts cannot be drawn: their library did not load.'));
    return box;
  }
  requestAnimationFrame(() => new window.Chart(canvas, {
    type: kind,
    data: {labels, datasets: datasets.map((d, i) => ({backgroundColor: kind === 'doughnut' ? PALETTE : PALETTE[i], borderColor: kind === 'doughnut' ? '#fff' : PALETTE[i], ...d}))},
    options: {animation: false, maintainAspectRatio: false, plugins: {legend: {display: kind === 'doughnut' || datasets.length > 1}}, ...extra},
  }));
  return box;
}

export async function renderSummary(main, params, q, stale) {
  const s = await get('/api/admin/summary?days=30');
  if (stale()) return;
  const statuses = Object.entries(s.learnwares.by_status);
  clear(main, h('h1', {}, 'Administration'), tabs('#/admin'),
    h('section', {class: 'cards', 'aria-label': 'totals'},
      h('div', {class: 'card'}, h('span', {class: 'big'}, s.learnwares.total), h('span', {}, 'learnwares')),
      h('div', {class: 'card'}, h('span', {class: 'big'}, s.queue.queued), h('span', {}, 'waiting for verification')),
      h('div', {class: 'card'}, h('span', {class: 'big'}, s.queue.processing), h('span', {}, 'being verified')),
      h('div', {class: 'card'}, h('span', {class: 'big'}, bytes(s.storage.packages_bytes)), h('span', {}, 'of packages'))),
    h('div', {class: 'charts'},
      chart('doughnut', 'Learnwares by status', statuses.map(([k]) => k.replace('_', ' ')),
            [{data: statuses.map(([, v]) => v), backgroundColor: statuses.map(([k]) => STATUS_COLOURS[k.replace('_', ' ')] || '#8899aa')}]),
      chart('bar', 'Searches and downloads per day (UTC)', s.activity.map((a) => a.day.slice(5)),
            [{label: 'searches', data: s.activity.map((a) => a.searches)}, {label: 'downloads', data: s.activity.map((a) => a.downloads)}],
            {scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}),
      Object.entries(s.semantic).map(([fieldName, counts]) => {
        const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 12);
        return chart('bar', `By ${fieldName}`, entries.map(([k]) => k), [{label: 'learnwares', data: entries.map(([, v]) => v), maxBarThickness: 28}],
                     {indexAxis: 'y', scales: {x: {beginAtZero: true, ticks: {precision: 0}}}}, 70 + 34 * entries.length);
      })),
    table(['storage', 'bytes'], Object.entries(s.storage).map(([k, v]) => [k.replace(/_/g, ' '), v === null ? '—' : bytes(v)])));
}

export async function renderLearnwares(main, params, q, stale) {
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const list = h('section', {id: 'admin-learnwares', 'aria-label': 'learnwares'});
  const statusSelect = h('select', {name: 'status'}, h('option', {value: ''}, 'any'),
    ['waiting', 'processing', 'usable', 'not_usable', 'invalid'].map((x) => h('option', {value: x}, x.replace('_', ' '))));
  const owner = h('input', {name: 'owner', type: 'search'});
  const text = h('input', {name: 'q', type: 'search'});
  const form = h('form', {class: 'inline'}, field('Status', statusSelect), field('Owner', owner), field('Name or id', text),
                 h('button', {type: 'submit'}, 'Filter'));
  clear(main, h('h1', {}, 'All learnwares'), tabs('#/admin/learnwares'), form, status, list);
  async function draw(page) {
    const data = await get(`/api/admin/learnwares${query({page, page_size: 20, status: statusSelect.value, owner: owner.value.trim(), q: text.value.trim()})}`);
    if (stale()) return;
    clear(list, table(['id', 'name', 'owner', 'status', 'verification', ''], data.items.map((l) => [
      h('a', {href: `#/learnware/${encodeURIComponent(l.id)}`}, h('code', {}, l.id)), l.name, l.owner, badge(l.status),
      l.verification ? badge(l.verification) : '—',
      button('Delete', async () => {
        if (!confirm(`Delete learnware ${l.id} (${l.name}) of ${l.owner}?`)) return;
        try {
          await del(`/api/admin/learnwares/${encodeURIComponent(l.id)}`);
          clear(status, notice('ok', `Learnware ${l.id} deleted.`));
          await draw(page);
        } catch (e) {
          clear(status, notice('error', e.message));
        }
      }, {class: 'danger', 'aria-label': `delete ${l.id}`})]), `${data.total} learnwares`), pager(page, data.page_size, data.total, draw));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); draw(1).catch((err) => clear(status, notice('error', err.message))); });
  await draw(1);
}

export async function renderUsers(main, params, q, stale) {
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const list = h('section', {id: 'admin-users', 'aria-label': 'users'});
  const roleSelect = h('select', {name: 'role'}, h('option', {value: ''}, 'any'), ['user', 'admin', 'super-admin'].map((x) => h('option', {value: x}, x)));
  const text = h('input', {name: 'q', type: 'search'});
  const form = h('form', {class: 'inline'}, field('Role', roleSelect), field('Name or e-mail', text), h('button', {type: 'submit'}, 'Filter'));
  clear(main, h('h1', {}, 'Users'), tabs('#/admin/users'), form, status, list);
  const act = (fn) => async () => {
    try { await fn(); } catch (e) { clear(status, notice('error', e.message)); }
  };
  async function draw(page) {
    const data = await get(`/api/admin/users${query({page, page_size: 20, role: roleSelect.value, q: text.value.trim()})}`);
    if (stale()) return;
    clear(list, table(['name', 'e-mail', 'role', 'since', ''], data.items.map((u) => {
      const role = h('select', {'aria-label': `role of ${u.name}`, disabled: u.id === session.user.id},
                     ['user', 'admin', 'super-admin'].map((x) => h('option', {value: x, selected: u.role === x}, x)));
      role.addEventListener('change', act(async () => {
        await put(`/api/admin/users/${u.id}/role`, {role: role.value});
        clear(status, notice('ok', `${u.name} is now ${role.value}.`));
        await draw(page);
      }));
      return [u.name, u.email, role, when(u.created_at), h('span', {class: 'actions'},
        button('Reset password', act(async () => {
          if (!confirm(`Reset ${u.name}'s password? Their password and tokens stop working.`)) return;
          const r = await post(`/api/admin/users/${u.id}/password-reset`);
          clear(status, notice('ok', `Give ${u.name} this reset token (valid until ${when(r.expires_at)}), for the "choose a new password" page: `,
                               h('input', {type: 'text', readonly: true, value: r.reset_token, class: 'token', 'aria-label': 'reset token'})));
        }), {disabled: u.id === session.user.id}), ' ',
        button('Delete', act(async () => {
          if (!confirm(`Delete the account of ${u.name}?`)) return;
          await del(`/api/admin/users/${u.id}`);
          clear(status, notice('ok', `${u.name} deleted.`));
          await draw(page);
        }), {class: 'danger', 'aria-label': `delete ${u.name}`, disabled: u.id === session.user.id}))];
    }), `${data.total} users`), pager(page, data.page_size, data.total, draw));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); draw(1).catch((err) => clear(status, notice('error', err.message))); });
  await draw(1);
}
