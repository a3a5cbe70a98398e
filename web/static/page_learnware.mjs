// One learnware: its semantic spec, a readable summary of its statistical
// spec (with, for point sets, the points on their first two principal
// components sized by weight), its verification status and log (for its
// owner and the administrators), and its package.
import {get, download, session} from './api.mjs';
import {h, clear, notice, button, table, badge, when, saveBlob} from './dom.mjs';

function semanticRows(semantic) {
  const rows = [];
  for (const [key, value] of Object.entries(semantic || {})) {
    if (key === 'Input' || key === 'Output') {
      const desc = value?.Description ? Object.values(value.Description) : [];
      rows.push([key, `${value?.Dimension ?? '?'} dimensions${desc.length ? `: ${desc.slice(0, 12).join(', ')}${desc.length > 12 ? ', …' : ''}` : ''}`]);
    } else {
      const v = value?.Values;
      rows.push([key, Array.isArray(v) ? (v.length ? v.join(', ') : '—') : (v || '—')]);
    }
  }
  return rows;
}

function plot(projection, label) {
  const canvas = h('canvas', {role: 'img', 'aria-label': `${label}: ${projection.x.length} points on their first two principal components, sized by weight`});
  const wrap = h('div', {class: 'plot'}, canvas);
  if (!window.Chart) {
    wrap.replaceChildren(notice('info', 'The plot cannot be drawn: its library did not load.'));
    return wrap;
  }
  const max = Math.max(...projection.weight.map((w) => Math.max(w, 0)), 1e-12);
  const points = projection.x.map((x, i) => ({x, y: projection.y[i], r: 2 + 10 * Math.sqrt(Math.max(projection.weight[i], 0) / max), w: projection.weight[i]}));
  // drawn after the canvas is in the page (chart.js measures its parent)
  requestAnimationFrame(() => new window.Chart(canvas, {
    type: 'bubble',
    data: {datasets: [{label: 'RKME points', data: points, backgroundColor: 'rgba(31,95,139,0.45)', borderColor: '#1f5f8b'}]},
    options: {
      animation: false, maintainAspectRatio: false,
      plugins: {legend: {display: false},
                tooltip: {callbacks: {label: (c) => `weight ${c.raw.w.toFixed(4)}`}}},
      scales: {x: {title: {display: true, text: `PC1 (${(100 * projection.explained[0]).toFixed(0)}% of the weighted variance)`}},
               y: {title: {display: true, text: `PC2 (${(100 * projection.explained[1]).toFixed(0)}%)`}}},
    },
  }));
  return wrap;
}

export async function render(main, {id}, q, stale) {
  const info = await get(`/api/engine/learnwares/${encodeURIComponent(id)}`);
  if (stale()) return;
  const r = info.record;
  const name = info.semantic?.Name?.Values || r.name || r.id;
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const specSection = h('section', {'aria-label': 'statistical specification'}, h('h2', {}, 'Statistical specification'),
                        h('p', {class: 'loading'}, 'Loading…'));
  const verification = h('section', {'aria-label': 'verification'});
  clear(main,
    h('h1', {}, name, ' ', badge(r.status)),
    h('p', {class: 'muted'}, h('code', {}, r.id), ` · by ${r.owner || 'the dock'} · added ${when(r.created_at)}`,
      r.updated_at && r.updated_at !== r.created_at ? ` · updated ${when(r.updated_at)}` : ''),
    info.semantic?.Description?.Values ? h('p', {class: 'description'}, info.semantic.Description.Values) : null,
    h('p', {class: 'actions'}, button('Download the package', async () => {
      try {
        const file = await download(`/api/engine/learnwares/${encodeURIComponent(r.id)}/download`);
        saveBlob(file.blob, file.name);
      } catch (e) {
        clear(status, notice('error', e.message));
      }
    }, {class: 'primary', id: 'download'})),
    status,
    r.reason ? notice('error', `The checker refused it: ${r.reason}`) : null,
    h('section', {'aria-label': 'semantic specification'}, h('h2', {}, 'Semantic specification'),
      table(['field', 'value'], semanticRows(info.semantic))),
    specSection, verification);

  const specs = await get(`/api/engine/learnwares/${encodeURIComponent(id)}/spec`).catch((e) => ({error: e}));
  if (stale()) return;
  if (specs.error) {
    clear(specSection, h('h2', {}, 'Statistical specification'), notice('error', specs.error.message));
  } else {
    clear(specSection, h('h2', {}, 'Statistical specification'), specs.specs.map((s) => h('div', {class: 'spec'},
      table(['property', 'value'], Object.entries(s.summary).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(5) : String(v)]),
            s.type),
      s.projection ? plot(s.projection, s.type) : null)));
  }
  if (session.user) {
    // the owner and administrators see the verification; others get 404 here
    try {
      const mine = await get(`/api/user/learnwares/${encodeURIComponent(id)}`);
      if (stale()) return;
      const last = mine.submissions[0];
      if (last) {
        clear(verification, h('h2', {}, 'Verification'),
          h('p', {}, 'Last submission ', badge(last.status), ` · ${when(last.updated_at)} · ${last.attempts} attempt(s)`),
          last.log ? h('pre', {class: 'log', tabindex: 0}, last.log) : null);
      }
    } catch { /* not the owner */ }
  }
}
