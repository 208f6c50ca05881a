// The console's controller: login, the data of every view polled every 2 s, the editor
// panel where each change is made, and the banner where every answer is told in words.
// Every write carries `If-Match` with the catalog version the operator was looking at.

import { ApiError, call, seg, token } from './api.js';
import { appsView, connectorsView, groupsView, h, scope } from './views.js';

const POLL_MS = 2000;
const VIEWS = { groups: groupsView, connectors: connectorsView, apps: appsView };
const $ = (id) => document.getElementById(id);

// Uncaught errors and CSP violations are shown, and kept where a test can read them.
window.consoleErrors = [];
function recordError(text) {
  window.consoleErrors.push(text);
  banner('bad', 'The console hit an error: ' + text);
}
window.addEventListener('error', (e) => recordError(e.message || String(e.error)));
window.addEventListener('unhandledrejection', (e) => recordError(String(e.reason)));
document.addEventListener('securitypolicyviolation', (e) =>
  recordError('blocked by the content security policy: ' + e.violatedDirective));

const state = {
  role: null, tenant: null, version: null, data: null, shown: '', editor: null, polling: null,
  busy: false, again: false, loadFailed: false, pressing: false, renderLater: false,
};

function banner(kind, text) {
  const b = $('banner');
  b.className = kind;
  b.textContent = text;
  b.hidden = !text;
}

/** Every list the views need, at one catalog version (retried if a write came between). */
async function fetchAll() {
  for (let attempt = 0; ; attempt++) {
    const answers = await Promise.all(['/status', '/groups', '/connectors', '/apps',
      '/enrollment-tokens'].map((p) => call('GET', p)));
    const versions = answers.map((a) => a.version);
    if (versions.every((v) => v === versions[0]) || attempt >= 3) {
      const [st, g, c, a, t] = answers.map((x) => x.data);
      return {
        version: Math.min(...versions), status: st, groups: g.items, connectors: c.items,
        apps: a.items, tokens: t.items,
      };
    }
  }
}

async function refresh() {
  if (state.busy) {
    // A write finished while a poll was out: read again right after it.
    state.again = true;
    return;
  }
  state.busy = true;
  try {
    const d = await fetchAll();
    if (!token.get()) return; // logged out meanwhile
    if (state.loadFailed) banner('', '');
    state.loadFailed = false;
    state.role = d.status.caller.role;
    state.tenant = d.status.caller.tenant;
    state.version = d.version;
    state.data = d;
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      logout('The token was refused: ' + e.message);
    } else {
      state.loadFailed = true;
      banner('bad', 'Could not load the catalog: ' + e.message);
    }
  } finally {
    state.busy = false;
    if (state.again) {
      state.again = false;
      setTimeout(refresh, 0);
    }
  }
}

const currentView = () => (VIEWS[location.hash.slice(1)] ? location.hash.slice(1) : 'groups');

function viewContext() {
  return {
    canWrite: state.role === 'admin' || state.role === 'tenant',
    label: (qualified, plain) => (state.role === 'tenant' ? plain : qualified),
    act: (action, key) => openEditor(action, key),
  };
}

/** Redraws the current view when what it shows changed (the editor panel is left alone). */
function render() {
  const name = currentView();
  for (const v of Object.keys(VIEWS)) $('nav-' + v).classList.toggle('current', v === name);
  const who = state.role === 'tenant' ? `tenant ${state.tenant}` : state.role.replace('_', '-');
  $('who').textContent = `${who} · catalog version ${state.version}`;
  const key = name + JSON.stringify(state.data) + state.role;
  if (key === state.shown) return;
  // Never swap the rows under a press: the click would land on a node that left the page.
  if (state.pressing) {
    state.renderLater = true;
    return;
  }
  state.shown = key;
  $('view').replaceChildren(...VIEWS[name](viewContext(), state.data).filter(Boolean));
  $('view').hidden = false;
}

// ---- objects and names ---------------------------------------------------------------

const byKey = (list, key) => list.find((o) => o.qualified === key);
/** The name of an object in an API path: qualified for operator tokens, plain for a tenant. */
const pathName = (o) => (state.role === 'tenant' ? (o.name || o.id) : o.qualified);
/** Groups an object of `o`'s scope may name, as it names them. */
function groupChoices(o, withShared) {
  const own = state.data.groups.filter((g) => scope(g) === scope(o)).map((g) => g.name);
  const shared = withShared && scope(o)
    ? state.data.groups.filter((g) => !scope(g) && g.shared).map((g) => '/' + g.name) : [];
  return own.concat(shared);
}

// ---- the editor panel ---------------------------------------------------------------

function field(label, id, value, attrs) {
  return h('div', { class: 'row' }, h('label', { for: id }, label),
    h('input', { id, value: value ?? '', autocomplete: 'off', spellcheck: 'false', ...attrs }));
}

function select(label, id, options, chosen) {
  return h('div', { class: 'row' }, h('label', { for: id }, label),
    h('select', { id }, options.map(([v, t]) => h('option', { value: v, selected: v === chosen }, t))));
}

const val = (id) => $(id).value.trim();
const orNull = (s) => (s === '' ? null : s);

function closeEditor() {
  state.editor = null;
  $('editor').replaceChildren();
  $('editor').hidden = true;
}

/**
 * Shows an editor: `title`, its fields, and a button running `save(version)` with the
 * catalog version the panel was opened at.
 */
function showEditor(title, fields, saveLabel, save, danger) {
  const version = state.version;
  state.editor = { version };
  const button = h('button', { type: 'button', id: 'save', class: danger ? 'danger' : 'primary',
    onclick: () => submit(() => save(version)) }, saveLabel);
  $('editor').replaceChildren(h('h2', {}, title), ...fields.filter(Boolean), button,
    h('button', { type: 'button', id: 'cancel', onclick: closeEditor }, 'Cancel'),
    h('p', { class: 'muted' }, `Editing catalog version ${version}.`));
  $('editor').hidden = false;
  const first = $('editor').querySelector('input, select');
  if (first) first.focus();
}

/** Runs a write; tells its outcome; on a version conflict shows the current data. */
async function submit(write) {
  try {
    const done = await write();
    if (done && done.keepOpen) {
      banner('ok', done.message);
    } else {
      closeEditor();
      banner('ok', (done && done.message) || 'Saved.');
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 412) {
      closeEditor();
      banner('bad', 'Conflict: the catalog changed since this page showed it (now version ' +
        (e.version ?? '?') + '). Nothing was changed; the page now shows the current data, ' +
        'check it and make your change again.');
    } else {
      banner('bad', (e instanceof ApiError && e.status ? `Refused (${e.status} ${e.code}): ` : '') +
        e.message);
    }
  }
  state.shown = '';
  await refresh();
}

const EDITORS = {
  'create-group': () => showEditor('New group', [
    field('Name', 'f-name', ''),
    state.role === 'admin' ? field('Tenant (empty: the operator)', 'f-tenant', '') : null,
    select('Balance', 'f-balance', [['p2c', 'fewest in flight of two random (p2c)'],
      ['round_robin', 'round robin']], 'p2c'),
  ], 'Create', (v) => call('POST', '/groups', { ifMatch: v, body: {
    name: val('f-name'), balance: val('f-balance'),
    ...(state.role === 'admin' ? { tenant: orNull(val('f-tenant')) } : {}) } })
    .then(() => ({ message: `Group ${val('f-name')} created.` }))),

  'rename-group': (g) => showEditor(`Rename group ${g.qualified}`, [
    field('New name', 'f-name', g.name)],
  'Rename', (v) => call('PATCH', '/groups/' + seg(pathName(g)), { ifMatch: v,
    body: { name: val('f-name') } }).then(() => ({ message: 'Group renamed.' }))),

  'delete-group': (g) => showEditor(`Delete group ${g.qualified}`, [
    h('p', {}, `Used by ${g.connectors.length} connector(s) and ${g.apps.length} app(s).`),
    select('Move everything to', 'f-move-to', [['', '— nothing (the group must be unused) —'],
      ...groupChoices(g, true).filter((n) => n !== g.name).map((n) => [n, n])], ''),
  ], 'Delete', (v) => {
    const to = val('f-move-to');
    const q = to ? '?move_to=' + encodeURIComponent(to) : '';
    return call('DELETE', '/groups/' + seg(pathName(g)) + q, { ifMatch: v })
      .then(() => ({ message: `Group ${g.qualified} deleted.` }));
  }, true),

  'move-connector': (c) => showEditor(`Move connector ${c.qualified}`, [
    select('To group', 'f-group', groupChoices(c, false).map((n) => [n, n]), c.group)],
  'Move', (v) => call('POST', `/connectors/${seg(pathName(c))}/move`, { ifMatch: v,
    body: { group: val('f-group') } }).then(() => ({ message: `Connector moved to ${val('f-group')}.` }))),

  'revoke-connector': (c) => showEditor(`Revoke connector ${c.qualified}`, [
    h('p', {}, 'Its tunnels close at once and it cannot connect again with its secret.')],
  'Revoke', (v) => call('POST', `/connectors/${seg(pathName(c))}/revoke`, { ifMatch: v })
    .then(() => ({ message: 'Connector revoked.' })), true),

  'delete-connector': (c) => showEditor(`Delete connector ${c.qualified}`, [
    h('p', {}, 'Its tunnels close and it leaves the catalog.')],
  'Delete', (v) => call('DELETE', '/connectors/' + seg(pathName(c)), { ifMatch: v })
    .then(() => ({ message: 'Connector deleted.' })), true),

  'create-enrollment': () => showEditor('New enrollment token', [
    h('p', {}, 'A connector started with this token registers itself into the default group ' +
      'of the token\u2019s scope; the token is shown only once.'),
    field('Connector id (for the snippet)', 'f-id', 'connector-1'),
    state.role === 'admin' ? field('Tenant (empty: the operator)', 'f-tenant', '') : null,
    field('Valid for (hours)', 'f-ttl', '24', { type: 'number', min: '1' }),
  ], 'Create token', (v) => call('POST', '/enrollment-tokens', { ifMatch: v, body: {
    ttl_secs: Math.round(Number(val('f-ttl') || '24') * 3600),
    ...(state.role === 'admin' ? { tenant: orNull(val('f-tenant')) } : {}) } })
    .then(({ data }) => showToken(val('f-id'), data))),

  'delete-enrollment': (t) => showEditor(`Delete enrollment token ${t.qualified}`, [],
    'Delete', (v) => call('DELETE', '/enrollment-tokens/' + seg(pathName(t)), { ifMatch: v })
      .then(() => ({ message: 'Enrollment token deleted.' })), true),

  'create-app': () => appEditor(null),
  'edit-app': (a) => appEditor(a),

  'delete-app': (a) => showEditor(`Delete app ${a.qualified}`, [
    h('p', {}, `${a.host}${a.path_prefix || ''} stops being served.`)],
  'Delete', (v) => call('DELETE', '/apps/' + seg(pathName(a)), { ifMatch: v })
    .then(() => ({ message: 'App deleted.' })), true),
};

/** The tunnel listener's address for a connector: its port, and this page's host when the
 * listener is bound to every address. */
function tunnelAddress() {
  const bound = state.data.status.tunnel_listen;
  const m = bound && bound.match(/^(.*):(\d+)$/);
  if (!m) return location.hostname + ':TUNNEL-PORT';
  const wildcard = m[1] === '0.0.0.0' || m[1] === '[::]';
  return (wildcard ? location.hostname : m[1]) + ':' + m[2];
}

/** The one-time view of a new enrollment token and the connector config to paste. */
function showToken(id, t) {
  const snippet = [
    `id = ${JSON.stringify(id || 'connector-1')}`,
    `enrollment_token = ${JSON.stringify(t.token)}`,
    'secret_file = "/var/lib/switchyard/connector.secret"',
    `gateways = [${JSON.stringify(tunnelAddress())}]  # this gateway's tunnel listener, as the connector reaches it`,
    'allow = ["10.0.0.0/8"]  # the origins this connector may reach',
  ].join('\n');
  state.editor = { version: state.version };
  $('editor').replaceChildren(h('h2', {}, 'Enrollment token created'),
    h('p', {}, 'Copy it now: it is shown only this once. Connector configuration to paste:'),
    h('pre', { id: 'enrollment-snippet' }, snippet),
    h('p', { class: 'muted' }, `Token ${t.qualified}, expires ${new Date(t.expires_at_unix * 1000).toISOString()}.`),
    h('button', { type: 'button', id: 'cancel', onclick: closeEditor }, 'Done'));
  $('editor').hidden = false;
  return { keepOpen: true, message: 'Enrollment token created.' };
}

/** The app editor: host, prefix, internal URL and the ordered group chain. */
function appEditor(a) {
  const chain = a ? [...a.groups] : [];
  const scopeOf = () => (a ? a : { tenant: state.role === 'admin' ? orNull(val('f-tenant')) : state.tenant });
  const list = h('ol', { class: 'chain', id: 'chain' });
  const adder = h('select', { id: 'f-add-group' });
  const redraw = () => {
    list.replaceChildren(...chain.map((g, i) => h('li', { 'data-chain': g }, g, ' ',
      i === 0 ? h('span', { class: 'muted' }, '(primary) ') : h('span', { class: 'muted' }, '(backup) '),
      h('button', { type: 'button', 'data-up': g, disabled: i === 0,
        onclick: () => { chain.splice(i - 1, 0, ...chain.splice(i, 1)); redraw(); } }, '↑'),
      h('button', { type: 'button', 'data-down': g, disabled: i === chain.length - 1,
        onclick: () => { chain.splice(i + 1, 0, ...chain.splice(i, 1)); redraw(); } }, '↓'),
      h('button', { type: 'button', 'data-remove': g,
        onclick: () => { chain.splice(i, 1); redraw(); } }, 'Remove'))));
    adder.replaceChildren(...groupChoices(scopeOf(), true).filter((g) => !chain.includes(g))
      .map((g) => h('option', { value: g }, g)));
  };
  const fields = [
    a ? null : field('Name', 'f-name', ''),
    !a && state.role === 'admin' ? field('Tenant (empty: the operator)', 'f-tenant', '',
      {}) : null,
    field('Host', 'f-host', a ? a.host : ''),
    field('Path prefix (empty: every path)', 'f-prefix', a ? a.path_prefix : ''),
    field('Internal URL', 'f-url', a ? a.internal_url : ''),
    h('h3', {}, 'Group chain (first: primary; then backups in order)'), list,
    h('div', { class: 'row' }, adder, h('button', { type: 'button', id: 'add-group',
      onclick: () => { if (adder.value) { chain.push(adder.value); redraw(); } } }, 'Add group')),
  ];
  const body = () => ({ host: val('f-host'), path_prefix: orNull(val('f-prefix')),
    internal_url: val('f-url'), groups: chain });
  showEditor(a ? `Edit app ${a.qualified}` : 'New app', fields, a ? 'Save' : 'Create', (v) => (a
    ? call('PATCH', '/apps/' + seg(pathName(a)), { ifMatch: v, body: body() })
    : call('POST', '/apps', { ifMatch: v, body: { name: val('f-name'), ...body(),
      ...(state.role === 'admin' ? { tenant: orNull(val('f-tenant')) } : {}) } }))
    .then(() => ({ message: a ? 'App saved.' : 'App created.' })));
  if (!a && $('f-tenant')) $('f-tenant').addEventListener('change', redraw);
  redraw();
}

function openEditor(action, key) {
  const lists = { group: 'groups', connector: 'connectors', app: 'apps', enrollment: 'tokens' };
  const kind = action.split('-').slice(1).join('-');
  const target = key ? byKey(state.data[lists[kind]], key) : null;
  if (key && !target) {
    banner('bad', `${key} no longer exists.`);
    return;
  }
  banner('', '');
  EDITORS[action](target);
}

// ---- login --------------------------------------------------------------------------

function logout(message) {
  token.clear();
  clearInterval(state.polling);
  state.polling = null;
  Object.assign(state, { role: null, data: null, shown: '' });
  closeEditor();
  $('view').hidden = true;
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  banner('', '');
}

async function start() {
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  await refresh();
  if (token.get() && !state.polling) state.polling = setInterval(refresh, POLL_MS);
}

function login() {
  const t = $('token').value.trim();
  if (!t) {
    $('login-error').textContent = 'Paste a token first.';
    return;
  }
  token.set(t);
  $('token').value = '';
  start();
}

document.addEventListener('pointerdown', () => { state.pressing = true; });
function released() {
  state.pressing = false;
  if (state.renderLater && state.data) {
    state.renderLater = false;
    // After the click that follows this release has run on the nodes it was aimed at.
    setTimeout(render, 0);
  }
}
document.addEventListener('pointerup', released);
document.addEventListener('pointercancel', released);
window.addEventListener('blur', released);
$('login-button').addEventListener('click', login);
$('token').addEventListener('keydown', (e) => { if (e.key === 'Enter') login(); });
$('logout').addEventListener('click', () => logout(''));
window.addEventListener('hashchange', () => { closeEditor(); state.shown = ''; if (state.data) render(); });
if (token.get()) start(); else logout('');
