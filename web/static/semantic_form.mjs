// The semantic fields as form controls, from the server's vocabularies
// (GET /api/engine/vocabulary), for the search filters and the submit form:
// a String field is a text box, a Class field a select, a Tag field a group of
// check boxes. `search`: empty means "any" (search boxes, an "any" choice);
// otherwise the controls start from `current` (a semantic spec) and Name is
// required.
import {h, field} from './dom.mjs';

export function semanticControls(vocabulary, {search = false, current = null} = {}) {
  const controls = [];
  for (const v of vocabulary) {
    const values = current?.[v.key]?.Values;
    if (v.type === 'String') {
      let input;
      if (search) {
        input = h('input', {type: 'search', name: v.key, autocomplete: 'off',
                            placeholder: v.key === 'Name' ? 'part of the name' : 'words of the description'});
      } else {
        input = v.key === 'Description'
          ? h('textarea', {name: v.key, rows: 3}) : h('input', {type: 'text', name: v.key, required: v.key === 'Name'});
        input.value = typeof values === 'string' ? values : '';
      }
      controls.push(field(v.key, input));
    } else if (v.type === 'Class') {
      const select = h('select', {name: v.key}, h('option', {value: ''}, search ? 'any' : '(none)'),
                       v.values.map((x) => h('option', {value: x, selected: Array.isArray(values) && values[0] === x}, x)));
      controls.push(field(v.key, select));
    } else {
      controls.push(h('fieldset', {class: 'tags'}, h('legend', {}, v.key),
        v.values.map((x) => h('label', {}, h('input', {type: 'checkbox', name: v.key, value: x,
                                                       checked: Array.isArray(values) && values.includes(x)}), ' ', x))));
    }
  }
  return h('div', {class: 'filters'}, controls);
}

// The fields' values as semantic spec entries ({Values, Type} per field), and
// whether any was given.
export function readSemanticControls(form, vocabulary) {
  const spec = {};
  let any = false;
  for (const v of vocabulary) {
    if (v.type === 'String') {
      const text = form.elements[v.key].value.trim();
      spec[v.key] = {Values: text, Type: 'String'};
      any ||= text !== '';
    } else if (v.type === 'Class') {
      const value = form.elements[v.key].value;
      spec[v.key] = {Values: value ? [value] : [], Type: 'Class'};
      any ||= value !== '';
    } else {
      const values = [...form.querySelectorAll(`input[name="${v.key}"]:checked`)].map((c) => c.value);
      spec[v.key] = {Values: values, Type: 'Tag'};
      any ||= values.length > 0;
    }
  }
  return {spec, any};
}
