// Submit: choose a package, check or edit its semantic specification, send it
// in resumable chunks with a progress bar, then watch its verification until
// it ends.
import {unzipSync, zipSync, strFromU8, strToU8} from './vendor/fflate.mjs';
import {get, post, call, download} from './api.mjs';
import {h, clear, notice, field, bytes} from './dom.mjs';
import {semanticControls, readSemanticControls} from './semantic_form.mjs';
import {uploadPackage} from './upload.mjs';

const EDITABLE_LIMIT = 100 << 20;  // packages read in the page to edit their semantic spec
let vocabulary = null;

// The package's semantic spec with the form's fields written over it (Input,
// Output and anything else the form does not show are kept).
function readSemantic(form, original) {
  return {...JSON.parse(JSON.stringify(original)), ...readSemanticControls(form, vocabulary).spec};
}

// The package's entries and its semantic spec (named by learnware.yaml).
function openPackage(bytesU8) {
  const entries = unzipSync(bytesU8);
  const manifest = entries['learnware.yaml'];
  if (!manifest) throw new Error('This zip has no learnware.yaml at its root: it is not a learnware package (lwdock package build makes one).');
  const m = /^semantic_specification:\s*["']?([^"'\n#]+?)["']?\s*(#.*)?$/m.exec(strFromU8(manifest));
  if (!m || !entries[m[1]]) throw new Error('learnware.yaml names no semantic specification file found in the zip.');
  let semantic;
  try { semantic = JSON.parse(strFromU8(entries[m[1]])); } catch {
    throw new Error(`${m[1]} in the package is not valid JSON.`);
  }
  return {entries, semanticName: m[1], semantic};
}

export async function render(main, params, q, stale) {
  vocabulary ||= await get('/api/engine/vocabulary');
  if (stale()) return;
  // #/submit?update=ID edits one of the caller's learnwares: its package as it
  // is now (or a new one chosen here), its semantic spec in the form, sent with
  // PUT and checked again.
  const updating = q.update || null;
  const fileInput = h('input', {type: 'file', name: 'package', accept: '.zip,application/zip', required: !updating});
  const semanticBox = h('div', {id: 'semantic-box'});
  const progress = h('progress', {max: 1, value: 0, hidden: true, 'aria-label': 'upload progress'});
  const progressText = h('span', {class: 'progress-text', 'aria-live': 'polite'});
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const submitButton = h('button', {type: 'submit', class: 'primary', disabled: true}, updating ? 'Save and check again' : 'Submit');
  const form = h('form', {class: 'submit', novalidate: true},
    field(updating ? 'A new package (zip), or keep the current one' : 'Learnware package (zip)', fileInput,
          'Made by lwdock package build: the model, learnware.yaml, the specs.'),
    semanticBox, h('p', {class: 'actions'}, submitButton), h('div', {class: 'progress'}, progress, ' ', progressText));
  clear(main, h('h1', {}, updating ? `Edit learnware ${updating}` : 'Submit a learnware'),
    updating
      ? h('p', {}, 'Change its semantic specification, or choose a new package. The new package replaces the old one ',
          'and is checked again; until the check ends the learnware keeps its current state.')
      : h('p', {}, 'The dock stores your package, then checks it: the model must load and predict, and its specification ',
          'must fit the model. You can follow the check here; the learnware can be found once it is usable.'),
    form, status);

  let opened = null;
  let current = null;  // {blob, name}: the package to send unless the form changes it
  async function load(blob, name, from) {
    opened = null;
    current = {blob, name};
    submitButton.disabled = false;
    if (blob.size > EDITABLE_LIMIT) {
      return clear(semanticBox, notice('info', `This package is ${bytes(blob.size)}: its semantic specification is sent as it is (the page edits it for packages up to ${bytes(EDITABLE_LIMIT)}).`));
    }
    try {
      opened = openPackage(new Uint8Array(await blob.arrayBuffer()));
      clear(semanticBox, h('h2', {}, 'Semantic specification'),
            h('p', {class: 'muted'}, `From ${opened.semanticName} in ${from}; what you change here is written into the package before it is sent.`),
            semanticControls(vocabulary, {current: opened.semantic}));
    } catch (e) {
      submitButton.disabled = true;
      current = null;
      clear(semanticBox, notice('error', e.message || 'The file cannot be read as a zip archive.'));
    }
  }
  fileInput.addEventListener('change', async () => {
    clear(status);
    const file = fileInput.files[0];
    if (!file) {
      submitButton.disabled = true;
      return clear(semanticBox);
    }
    await load(file, file.name, 'the package');
  });
  if (updating) {
    try {
      const pkg = await download(`/api/engine/learnwares/${encodeURIComponent(updating)}/download`);
      if (stale()) return;
      await load(pkg.blob, pkg.name, 'its current package');
    } catch (e) {
      clear(status, notice('error', `${e.message} You can still choose a new package.`));
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!current) return clear(status, notice('error', 'Choose a package first.'));
    let blob = current.blob;
    if (opened) {
      const semantic = readSemantic(form, opened.semantic);
      if (!semantic.Name?.Values) return clear(status, notice('error', 'Give the learnware a name.'));
      if (JSON.stringify(semantic) !== JSON.stringify(opened.semantic)) {
        const entries = {...opened.entries, [opened.semanticName]: strToU8(JSON.stringify(semantic, null, 1))};
        // fixed time stamps: the same edit gives the same bytes, so a resumed upload finds its hash again
        const files = Object.fromEntries(Object.entries(entries).map(([n, d]) => [n, [d, {mtime: new Date('1980-01-01T00:00:00Z')}]]));
        blob = new Blob([zipSync(files, {level: 6})], {type: 'application/zip'});
      }
    }
    submitButton.disabled = true;
    fileInput.disabled = true;
    progress.hidden = false;
    clear(status);
    try {
      const upload = await uploadPackage(blob, current.name, {
        onProgress(phase, done, total) {
          progress.max = total;
          progress.value = done;
          progressText.textContent = `${phase === 'hashing' ? 'Checking the file' : 'Sending'}: ${bytes(done)} of ${bytes(total)} (${Math.floor((100 * done) / total)}%)`;
        },
        onResume(received) {
          status.append(notice('info', `Resuming an earlier upload of this file: ${bytes(received)} had arrived.`));
        },
      });
      const submission = updating
        ? await call('PUT', `/api/user/learnwares/${encodeURIComponent(updating)}`, {json: {upload_id: upload.id}})
        : await post('/api/user/learnwares', {upload_id: upload.id});
      upload.forget();
      progressText.textContent = 'Sent.';
      await follow(submission);
    } catch (err) {
      clear(status, notice('error', `${err.message} Choose the same file again and press Submit to resume.`));
    } finally {
      submitButton.disabled = false;
      fileInput.disabled = false;
    }
  });

  // The verification, live: the status and log until it ends.
  async function follow(submission) {
    const box = h('section', {id: 'verification', 'aria-label': 'verification'});
    clear(status, box);
    let s = submission;
    for (let wait = 300; ; wait = Math.min(2000, wait * 1.5)) {
      clear(box, h('h2', {}, 'Verification'),
        h('p', {}, 'Learnware ', h('code', {}, s.learnware_id), ': ', h('span', {id: 'submission-status', class: `badge s-${s.status}`}, s.status.replace('_', ' '))),
        s.log ? h('pre', {class: 'log', tabindex: 0}, s.log) : null,
        ['waiting', 'processing'].includes(s.status) ? h('p', {class: 'loading'}, 'Checking…') :
          h('p', {}, h('a', {href: `#/learnware/${encodeURIComponent(s.learnware_id)}`}, 'Open the learnware'), ' · ',
            h('a', {href: '#/mine'}, 'My learnwares')));
      if (!['waiting', 'processing'].includes(s.status) || stale()) return;
      await new Promise((r) => setTimeout(r, wait));
      s = await get(`/api/user/submissions/${encodeURIComponent(s.id)}`);
    }
  }
}
