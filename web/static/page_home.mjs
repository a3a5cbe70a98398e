// Home: what a learnware is, and the market in numbers.
import {get} from './api.mjs';
import {h, clear, table} from './dom.mjs';

const KIND_NAMES = {
  RKMETableSpecification: 'Tables',
  RKMETextSpecification: 'Text',
  RKMEImageSpecification: 'Images',
};

export async function render(main) {
  const overview = await get('/api/engine/overview');
  const kinds = Object.entries(overview.usable_by_kind);
  clear(main,
    h('h1', {}, 'Learnware dock'),
    h('section', {class: 'intro'},
      h('p', {}, 'A ', h('strong', {}, 'learnware'), ' is a trained model together with a ', h('strong', {}, 'specification'),
        ' of what it is good for: a semantic part (tags such as the task, the data type and a description) and a ',
        'statistical part, a small weighted set of points (an RKME) that sketches the data the model was trained on, ',
        'without revealing that data.'),
      h('p', {}, 'You describe your own task the same way: your tags, and a sketch of your data made on your machine ',
        '(', h('code', {}, 'lwdock spec generate'), '). The dock compares sketches and returns the learnwares that fit ',
        'your data best, one by one and as a mixture, to reuse on your own data. Your data never leaves your machine.'),
      h('p', {class: 'actions'}, h('a', {class: 'btn primary', href: '#/search'}, 'Search the market'), ' ',
        h('a', {class: 'btn', href: '#/search?example=1'}, 'Run a worked example'), ' ',
        h('a', {class: 'btn', href: '#/submit'}, 'Submit a learnware'))),
    h('section', {class: 'cards', 'aria-label': 'the market in numbers'},
      h('div', {class: 'card'}, h('span', {class: 'big', id: 'count-usable'}, overview.by_status.usable ?? 0),
        h('span', {}, 'usable learnwares')),
      kinds.map(([kind, n]) => h('div', {class: 'card'}, h('span', {class: 'big'}, n),
        h('span', {}, `${KIND_NAMES[kind] || kind}`))),
      h('div', {class: 'card muted'}, h('span', {class: 'big'}, (overview.by_status.not_usable ?? 0) + (overview.by_status.invalid ?? 0)),
        h('span', {}, 'refused by the checker'))),
    table(['status', 'learnwares'], Object.entries(overview.by_status).map(([s, n]) => [s.replace('_', ' '), n]),
          'Learnwares by status'));
}
