// Rendering of the console's views from the data the API returned. Everything is built
// with DOM calls and textContent (never HTML strings), so no API value can become markup.

/** An element: `h('td', {class: 'x'}, 'text', child)`; attributes starting with `data-`
 * or plain names are set as attributes, `onclick` as a listener. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick') el.addEventListener('click', v);
    else if (k === 'onchange') el.addEventListener('change', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** The scope of an object: its tenant, or null for the operator's. */
export const scope = (o) => o.tenant || null;

/** How long ago a unix time was, in words. */
export function ago(unix) {
  if (!unix) return 'never';
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}

function table(head, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('table', {}, h('thead', {}, h('tr', {}, head.map((t) => h('th', {}, t)))),
    h('tbody', {}, rows));
}

function actionButton(ctx, action, key, label, danger) {
  if (!ctx.canWrite) return null;
  return h('button', {
    type: 'button', class: danger ? 'write danger' : 'write', 'data-action': action,
    'data-key': key, onclick: () => ctx.act(action, key),
  }, label);
}

function connectorState(c) {
  if (c.revoked) return h('span', { class: 'revoked' }, 'revoked');
  return c.live ? h('span', { class: 'live' }, 'live') : h('span', { class: 'down' }, 'down');
}

function connectorRow(ctx, c, withGroup) {
  return h('tr', { 'data-connector': c.qualified },
    h('td', {}, ctx.label(c.qualified, c.id)),
    withGroup ? h('td', {}, c.group) : null,
    h('td', {}, connectorState(c)),
    h('td', {}, c.tunnels), h('td', {}, c.in_flight), h('td', {}, c.served),
    h('td', {}, c.remote || '—'), h('td', {}, c.version || '—'), h('td', {}, ago(c.last_seen_unix)),
    h('td', {}, c.gateways ? c.gateways.join(', ') || '—' : '—'),
    h('td', {},
      actionButton(ctx, 'move-connector', c.qualified, 'Move…'),
      c.revoked ? null : actionButton(ctx, 'revoke-connector', c.qualified, 'Revoke…', true),
      actionButton(ctx, 'delete-connector', c.qualified, 'Delete…', true)));
}

const CONNECTOR_HEAD = ['connector', 'state', 'tunnels', 'in flight', 'served', 'remote',
  'version', 'last seen', 'gateways', ''];

/** Groups, each with its connectors and the apps that use it. */
export function groupsView(ctx, s) {
  const out = [h('h2', {}, 'Groups'),
    ctx.canWrite ? h('button', { type: 'button', class: 'write primary', id: 'new-group',
      onclick: () => ctx.act('create-group') }, 'New group') : null];
  if (!s.groups.length) out.push(h('p', { class: 'muted' }, 'No groups yet.'));
  for (const g of s.groups) {
    const members = s.connectors.filter((c) => scope(c) === scope(g) && c.group === g.name);
    const live = members.filter((c) => c.live).length;
    out.push(h('div', { class: 'group', 'data-group': g.qualified },
      h('h3', {}, ctx.label(g.qualified, g.name), ' ',
        h('span', { class: 'muted' }, `${live}/${members.length} live · ${g.balance}`,
          g.shared ? ' · shared' : ''), ' ',
        actionButton(ctx, 'rename-group', g.qualified, 'Rename…'),
        actionButton(ctx, 'delete-group', g.qualified, 'Delete…', true)),
      table(CONNECTOR_HEAD, members.map((c) => connectorRow(ctx, c, false)),
        'No connectors in this group.'),
      h('p', {}, h('span', { class: 'muted' }, 'Apps: '),
        g.apps.length ? g.apps.join(', ') : 'none')));
  }
  return out;
}

/** Every connector, and the enrollment tokens waiting to be used. */
export function connectorsView(ctx, s) {
  const head = [CONNECTOR_HEAD[0], 'group', ...CONNECTOR_HEAD.slice(1)];
  return [h('h2', {}, 'Connectors'),
    ctx.canWrite ? h('button', { type: 'button', class: 'write primary', id: 'new-enrollment',
      onclick: () => ctx.act('create-enrollment') }, 'New enrollment token') : null,
    table(head, s.connectors.map((c) => connectorRow(ctx, c, true)), 'No connectors yet.'),
    h('h3', {}, 'Enrollment tokens'),
    table(['token', 'expires', ''], s.tokens.map((t) => h('tr', { 'data-enrollment': t.qualified },
      h('td', {}, ctx.label(t.qualified, t.id)),
      h('td', {}, new Date(t.expires_at_unix * 1000).toISOString()),
      h('td', {}, actionButton(ctx, 'delete-enrollment', t.qualified, 'Delete…', true)))),
    'No unused enrollment tokens.')];
}

/** Every app with its host, prefix, origin and group chain. */
export function appsView(ctx, s) {
  return [h('h2', {}, 'Apps'),
    ctx.canWrite ? h('button', { type: 'button', class: 'write primary', id: 'new-app',
      onclick: () => ctx.act('create-app') }, 'New app') : null,
    table(['app', 'host', 'path prefix', 'internal URL', 'group chain', ''],
      s.apps.map((a) => h('tr', { 'data-app': a.qualified },
        h('td', {}, ctx.label(a.qualified, a.name)), h('td', {}, a.host),
        h('td', {}, a.path_prefix || '—'), h('td', {}, a.internal_url),
        h('td', { class: 'chain-cell' }, a.groups.join(' → ')),
        h('td', {}, actionButton(ctx, 'edit-app', a.qualified, 'Edit…'),
          actionButton(ctx, 'delete-app', a.qualified, 'Delete…', true)))),
      'No apps yet.')];
}
