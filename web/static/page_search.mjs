// Search: semantic filters (the server's vocabularies), a statistical spec
// file, and the results -- singles with scores, paged, and the recommended
// mixture with its weights -- with downloads of one or all.
import {get, call, post, query, download} from './api.mjs';
import {h, clear, notice, field, button, pager, saveBlob} from './dom.mjs';
import {semanticControls, readSemanticControls} from './semantic_form.mjs';

let vocabulary = null;
const names = new Map();  // learnware id -> name, for result rows

async function learnwareName(id) {
  if (!names.has(id)) {
    names.set(id, get(`/api/engine/learnwares/${encodeURIComponent(id)}`)
      .then((info) => info.semantic?.Name?.Values || info.record.name || id)
      .catch(() => id));
  }
  return names.get(id);
}

// The semantic part of the request: only what the person chose (none: any learnware).
function semanticFrom(form) {
  const {spec, any} = readSemanticControls(form, vocabulary);
  return any ? spec : null;
}

export async function render(main, params, q, stale) {
  vocabulary ||= await get('/api/engine/vocabulary');
  if (stale()) return;
  const specInput = h('input', {type: 'file', name: 'spec', accept: '.json,application/json'});
  const mixture = h('select', {name: 'mixture'}, h('option', {value: 'greedy'}, 'greedy (fast)'),
                    h('option', {value: 'auto'}, 'auto (finds more components)'));
  const pageSize = h('select', {name: 'page_size'}, [10, 20, 50].map((n) => h('option', {value: n}, n)));
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const results = h('section', {id: 'results', 'aria-label': 'results'});
  const form = h('form', {class: 'search', novalidate: true},
    h('div', {class: 'spec-row'},
      field('Statistical specification of your data (JSON)', specInput,
            'Made on your machine: lwdock spec generate --type table --input data.csv -o spec.json'),
      field('Mixture', mixture), field('Results per page', pageSize)),
    h('details', {open: q.example ? null : true}, h('summary', {}, 'Semantic filters'), h('div', {id: 'semantic'})),
    h('p', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Search'), ' ',
      button('Run a worked example', () => runExample()), ' ', h('button', {type: 'reset'}, 'Clear')));
  form.querySelector('#semantic').append(semanticControls(vocabulary, {search: true}));
  clear(main, h('h1', {}, 'Search'), form, status, results);

  let lastSpec = null;   // parsed spec JSON of the current search
  let exampleNote = null;

  async function search(page) {
    const semantic = semanticFrom(form);
    const body = new FormData();
    if (lastSpec) body.append('spec', new Blob([JSON.stringify(lastSpec)], {type: 'application/json'}), 'spec.json');
    if (semantic) body.append('semantic', JSON.stringify(semantic));
    body.append('options', JSON.stringify({mixture_method: mixture.value}));
    const t0 = performance.now();
    clear(status, h('p', {class: 'loading'}, 'Searching…'));
    let data;
    try {
      data = await call('POST', `/api/engine/search${query({page, page_size: pageSize.value})}`, {form: body});
    } catch (e) {
      clear(status, notice('error', e.message));
      clear(results);
      return;
    }
    await drawResults(data, page);
    const ms = performance.now() - t0;
    results.dataset.ms = ms.toFixed(1);
    clear(status, h('p', {class: 'muted'}, exampleNote, `${data.total} result${data.total === 1 ? '' : 's'} in ${ms.toFixed(0)} ms`,
                    data.semantic_matches !== null ? ` (${data.semantic_matches} learnwares match the filters)` : ''));
  }

  async function drawResults(data, page) {
    const rows = await Promise.all(data.single.map(async (s, i) => {
      const name = await learnwareName(s.id);
      return h('li', {class: 'result'},
        h('span', {class: 'rank'}, `${(page - 1) * data.page_size + i + 1}.`),
        h('a', {href: `#/learnware/${encodeURIComponent(s.id)}`, class: 'name'}, name),
        h('code', {class: 'id'}, s.id),
        s.score !== null ? h('span', {class: 'score', title: `MMD² ${s.mmd2}`}, `score ${s.score.toFixed(4)}`) : null,
        button('Download', () => fetchPackages([s.id]), {'aria-label': `download ${name}`}));
    }));
    const parts = [h('h2', {}, data.single.length ? 'Learnwares' : 'No learnware matches'),
                   h('ol', {class: 'results'}, rows),
                   pager(page, data.page_size, data.total, (p) => search(p))];
    if (data.single.length > 1) {
      parts.push(h('p', {}, button(`Download these ${data.single.length}`, () => fetchPackages(data.single.map((s) => s.id)))));
    }
    if (data.mixture && data.mixture.ids.length) {
      const items = await Promise.all(data.mixture.ids.map(async (id, i) => h('li', {},
        h('a', {href: `#/learnware/${encodeURIComponent(id)}`}, await learnwareName(id)),
        h('span', {class: 'weight'}, ` weight ${data.mixture.weights[i].toFixed(3)}`),
        h('span', {class: 'bar', style: null, 'aria-hidden': 'true'}, h('span', {class: 'fill', dataset: {w: data.mixture.weights[i]}})))));
      parts.unshift(h('section', {class: 'mixture', id: 'mixture'},
        h('h2', {}, 'Recommended mixture'),
        h('p', {class: 'muted'}, `Reuse these together on your data (score ${data.mixture.score?.toFixed(4) ?? '—'}).`),
        h('ul', {}, items),
        button('Download the mixture', () => fetchPackages(data.mixture.ids))));
    }
    clear(results, parts);
    // widths from data attributes: no inline styles (the pages' policy forbids them)
    for (const fill of results.querySelectorAll('.fill')) fill.style.width = `${Math.round(Number(fill.dataset.w) * 100)}%`;
  }

  async function fetchPackages(ids) {
    try {
      const file = ids.length === 1
        ? await download(`/api/engine/learnwares/${encodeURIComponent(ids[0])}/download`)
        : await download(`/api/engine/download${query({ids: ids.slice(0, 10).join(',')})}`);
      saveBlob(file.blob, file.name);
    } catch (e) {
      clear(status, notice('error', e.message));
    }
  }

  async function runExample() {
    clear(status, h('p', {class: 'loading'}, 'Preparing the example…'));
    try {
      const list = await get('/api/engine/learnwares?page_size=1');
      if (!list.items.length) throw new Error('The market has no usable learnware yet: submit one first.');
      const id = list.items[0].id;
      const spec = await get(`/api/engine/learnwares/${encodeURIComponent(id)}/spec`);
      if (!spec.specs.length) throw new Error(`Learnware ${id} has no statistical specification.`);
      form.reset();  // its listener forgets the spec: set the example's after it
      lastSpec = spec.specs[0].file;
      exampleNote = `Example: the spec of learnware ${id} (${list.items[0].name}) as if it were your data; it should come first. `;
      await search(1);
    } catch (e) {
      clear(status, notice('error', e.message));
    }
  }

  form.addEventListener('reset', () => { lastSpec = null; exampleNote = null; });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    exampleNote = null;
    lastSpec = null;
    const file = specInput.files[0];
    if (file) {
      try {
        lastSpec = JSON.parse(await file.text());
      } catch {
        clear(status, notice('error', `${file.name} is not a JSON spec file: make one with lwdock spec generate.`));
        return;
      }
    }
    await search(1);
  });
  if (q.example) await runExample();
}
