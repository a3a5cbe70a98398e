// My learnwares: every submission of the caller, newest first, with its
// status, the verification log, editing (#/submit?update=ID) and deleting.
import {get, del, query} from './api.mjs';
import {h, clear, notice, button, pager, badge, when} from './dom.mjs';

export async function render(main, params, q, stale) {
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const list = h('section', {id: 'mine', 'aria-label': 'your learnwares'});
  clear(main, h('h1', {}, 'My learnwares'), h('p', {}, h('a', {class: 'btn primary', href: '#/submit'}, 'Submit a learnware')), status, list);

  async function draw(page) {
    const data = await get(`/api/user/learnwares${query({page, page_size: 20})}`);
    if (stale()) return;
    if (!data.items.length) return clear(list, h('p', {class: 'muted'}, 'You have submitted no learnware yet.'));
    clear(list, h('ul', {class: 'cards-list'}, data.items.map((s) => {
      return h('li', {class: 'card wide', dataset: {learnware: s.learnware_id}},
        h('div', {class: 'row'},
          h('a', {href: `#/learnware/${encodeURIComponent(s.learnware_id)}`}, h('code', {}, s.learnware_id)), ' ',
          badge(s.status), h('span', {class: 'muted'}, ` ${s.action} · ${s.filename} · ${when(s.updated_at)}`)),
        s.log ? h('details', {}, h('summary', {}, 'Verification log'), h('pre', {class: 'log', tabindex: 0}, s.log)) : null,
        s.status === 'withdrawn' ? null : h('p', {class: 'actions'},
          h('a', {class: 'btn', href: `#/submit?update=${encodeURIComponent(s.learnware_id)}`, 'aria-label': `edit ${s.learnware_id}`}, 'Edit'), ' ',
          button('Delete', async () => {
            if (!confirm(`Delete learnware ${s.learnware_id}? This cannot be undone.`)) return;
            try {
              await del(`/api/user/learnwares/${encodeURIComponent(s.learnware_id)}`);
              clear(status, notice('ok', `Learnware ${s.learnware_id} deleted.`));
              await draw(page);
            } catch (e) {
              clear(status, notice('error', e.message));
            }
          }, {class: 'danger', 'aria-label': `delete ${s.learnware_id}`})));
    })), pager(page, data.page_size, data.total, draw));
  }
  await draw(1);
}
