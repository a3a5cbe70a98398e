// Accounts: log in, register, reset a password with an administrator's
// token, the account page (change password), and client tokens.
import {get, post, del, session, refreshUser} from './api.mjs';
import {h, clear, notice, field, button, table, when} from './dom.mjs';

function formPage(main, title, intro, fields, submitText, onSubmit) {
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const form = h('form', {class: 'narrow'}, fields, h('p', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, submitText)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(status);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await onSubmit(form, status);
    } catch (err) {
      clear(status, notice('error', err.message));
    } finally {
      button.disabled = false;
    }
  });
  clear(main, h('h1', {}, title), intro, form, status);
  form.querySelector('input')?.focus();
}

const input = (name, type = 'text', attrs = {}) => h('input', {name, type, required: true, ...attrs});

export async function renderLogin(main, params, q) {
  formPage(main, 'Log in', null,
    [field('Name or e-mail', input('login', 'text', {autocomplete: 'username'})),
     field('Password', input('password', 'password', {autocomplete: 'current-password'}))],
    'Log in', async (form) => {
      const s = await post('/api/auth/login', {login: form.elements.login.value.trim(), password: form.elements.password.value});
      session.token = s.token;
      await refreshUser();
      location.hash = q.next ? `#/${q.next}` : '#/';
      window.dispatchEvent(new Event('lwdock:logged-in'));
    });
  main.append(h('p', {}, 'No account? ', h('a', {href: '#/register'}, 'Register'), '. Forgot your password? ',
                'Ask an administrator for a reset token, then ', h('a', {href: '#/reset'}, 'choose a new password'), '.'));
}

export async function renderRegister(main) {
  formPage(main, 'Register', h('p', {}, 'Whether anyone may register is the dock\'s policy; the server says so if not.'),
    [field('Name', input('name', 'text', {autocomplete: 'username', pattern: '[A-Za-z0-9_.\\-]{1,64}'}), '1–64 letters, digits, . _ -'),
     field('E-mail', input('email', 'email', {autocomplete: 'email'})),
     field('Password', input('password', 'password', {autocomplete: 'new-password', minlength: 10}), 'at least 10 characters'),
     field('Password again', input('password2', 'password', {autocomplete: 'new-password', minlength: 10}))],
    'Register', async (form, status) => {
      if (form.elements.password.value !== form.elements.password2.value) throw new Error('The two passwords differ.');
      await post('/api/auth/register', {name: form.elements.name.value.trim(), email: form.elements.email.value.trim(),
                                        password: form.elements.password.value});
      clear(status, notice('ok', 'Your account is ready. ', h('a', {href: '#/login'}, 'Log in')));
      form.reset();
    });
}

export async function renderReset(main) {
  formPage(main, 'Choose a new password', h('p', {}, 'With the reset token (lwd_r_…) an administrator gave you.'),
    [field('Reset token', input('token', 'text', {autocomplete: 'off'})),
     field('New password', input('new_password', 'password', {autocomplete: 'new-password', minlength: 10}))],
    'Set the password', async (form, status) => {
      await post('/api/auth/password-reset', {token: form.elements.token.value.trim(), new_password: form.elements.new_password.value});
      clear(status, notice('ok', 'Password changed. ', h('a', {href: '#/login'}, 'Log in')));
      form.reset();
    });
}

export async function renderAccount(main) {
  const me = await get('/api/user/profile');
  formPage(main, 'Account',
    table(['property', 'value'], [['name', me.name], ['e-mail', me.email], ['role', me.role], ['since', when(me.created_at)]]),
    [h('h2', {}, 'Change the password'),
     field('Current password', input('old_password', 'password', {autocomplete: 'current-password'})),
     field('New password', input('new_password', 'password', {autocomplete: 'new-password', minlength: 10}), 'at least 10 characters; your other sessions are logged out')],
    'Change the password', async (form, status) => {
      await post('/api/user/password', {old_password: form.elements.old_password.value, new_password: form.elements.new_password.value});
      clear(status, notice('ok', 'Password changed.'));
      form.reset();
    });
}

export async function renderTokens(main, params, q, stale) {
  const status = h('div', {class: 'status', 'aria-live': 'polite'});
  const list = h('section', {id: 'token-list', 'aria-label': 'your client tokens'});
  const label = h('input', {name: 'label', type: 'text', required: true, maxlength: 100, placeholder: 'e.g. laptop, CI'});
  const days = h('input', {name: 'days', type: 'number', min: 1, value: 90});
  const form = h('form', {class: 'inline'}, field('What it is for', label), field('Days it lasts', days),
                 h('button', {type: 'submit', class: 'primary'}, 'Create a token'));
  clear(main, h('h1', {}, 'Client tokens'),
    h('p', {}, 'A client token lets a program act as you: ', h('code', {}, 'lwdock client login --server URL'),
      ' or the ', h('code', {}, 'LWDOCK_TOKEN'), ' environment variable. It is shown once, when it is made; the dock keeps only its hash.'),
    form, status, list);

  async function draw() {
    const tokens = await get('/api/user/tokens');
    if (stale()) return;
    const live = tokens.items.filter((t) => !t.revoked);
    clear(list, h('h2', {}, 'Your tokens'), live.length ? table(['label', 'created', 'expires', 'last used', ''],
      live.map((t) => [t.label, when(t.created_at), t.expired ? 'expired' : when(t.expires_at), t.last_used_at ? when(t.last_used_at) : 'never',
        button('Revoke', async () => {
          if (!confirm(`Revoke the token "${t.label}"? Programs using it stop working.`)) return;
          try {
            await del(`/api/user/tokens/${t.id}`);
            clear(status, notice('ok', `Token "${t.label}" revoked.`));
            await draw();
          } catch (e) {
            clear(status, notice('error', e.message));
          }
        }, {'aria-label': `revoke ${t.label}`})])) : h('p', {class: 'muted'}, 'No tokens.'));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const made = await post('/api/user/tokens', {label: label.value.trim(), expires_in_days: Number(days.value)});
      const text = h('input', {type: 'text', readonly: true, value: made.token, id: 'new-token', class: 'token', 'aria-label': 'the new token'});
      clear(status, notice('ok', `Token "${made.label}" made; copy it now, it is not shown again: `, text, ' ',
        button('Copy', () => navigator.clipboard?.writeText(made.token))));
      text.select();
      form.reset();
      await draw();
    } catch (err) {
      clear(status, notice('error', err.message));
    }
  });
  await draw();
}
