// Subscriptions: the list, one subscription with its actions and
// deliveries, and the create/edit form (herald's field errors at the field).
import { api, ApiError, enc } from './api.js';
import { badge, busy, clearErrors, confirmAction, copyButton, failureText, fieldError, h, notFound, show, sinkLink, sinksOf,
	sinkText, when } from './ui.js';
import { deliveriesCard } from './deliveries.js';

// A secret just made (create or rotate), shown once on the next page.
let freshSecret = null;

function backlogText(b) {
	if (b.pending === 0)
		return '0';
	const age = b.oldest_due_seconds >= 1 ? `, oldest due ${Math.round(b.oldest_due_seconds)} s` : '';
	return `${b.pending} pending${age}`;
}

export async function list() {
	let items;
	try {
		items = await api('GET', '/v1/subscriptions');
	} catch (e) {
		show('Subscriptions', h('h1', {}, 'Subscriptions'), h('p', { class: 'form-error' }, e.message));
		return;
	}
	const rows = items.map((s) => h('tr', {},
		h('td', { 'data-label': 'Sink', class: 'wrap' },
			sinkLink(s, `#/subscriptions/${enc(s.id)}`)),
		h('td', { 'data-label': 'Types', class: 'wrap' }, s.types ? s.types.join(', ') : h('span', { class: 'muted' }, 'any')),
		h('td', { 'data-label': 'Status' }, badge(s.status)),
		h('td', { 'data-label': 'Backlog' }, s.backlog ? backlogText(s.backlog) : h('span', { class: 'muted' }, 'not sampled yet')),
		h('td', { 'data-label': 'Last success', class: 'last-success' }, when(s.attempts && s.attempts.last_success_at)),
		h('td', { 'data-label': 'Last failure', class: 'last-failure' }, s.attempts && s.attempts.last_failure ?
			h('span', {}, when(s.attempts.last_failure_at), ' ', h('span', { class: 'mono' }, failureText(s.attempts.last_failure))) : when(null))));
	show('Subscriptions',
		h('h1', {}, 'Subscriptions'),
		h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '#/subscriptions/new' }, 'New subscription')),
		items.length === 0 ? h('p', { class: 'muted' }, 'No subscriptions yet.') :
			h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'subscriptions' },
				h('caption', { class: 'muted' }, 'Last success and failure: the attempts this instance made since it started.'),
				h('thead', {}, h('tr', {}, ['Sink', 'Types', 'Status', 'Backlog', 'Last success', 'Last failure'].map((t) => h('th', { scope: 'col' }, t)))),
				h('tbody', {}, rows))));
}

async function load(id) {
	try {
		return await api('GET', `/v1/subscriptions/${enc(id)}`);
	} catch (e) {
		if (e instanceof ApiError && e.status === 404) {
			notFound(`Subscription ${id}`, '#/subscriptions', 'All subscriptions');
			return null;
		}
		show('Subscription', h('h1', {}, 'Subscription'), h('p', { class: 'form-error' }, e.message));
		return null;
	}
}

function secretBox(secret, note) {
	return h('div', { class: 'secret', id: 'secret', role: 'region', 'aria-label': 'Signing secret' },
		h('strong', {}, 'Signing secret:'), h('code', { id: 'secret-value' }, secret),
		copyButton(secret), h('span', { class: 'muted' }, note));
}

export async function detail(id) {
	const s = await load(id);
	if (s === null)
		return;
	const path = `/v1/subscriptions/${enc(s.id)}`;
	const secret = freshSecret && freshSecret.id === s.id ? freshSecret : null;
	freshSecret = null;
	const d = s.delivery;
	const members = sinksOf(s);
	const props = [
		members.length > 1 ?
			['Sinks', [h('span', { class: 'muted' }, `A consumer group of ${members.length}: each delivery goes to one of them.`),
				h('ul', { class: 'members', id: 'sinks' }, members.map((m) => h('li', { class: 'mono' }, m)))]] :
			['Sink', h('span', { class: 'mono', id: 'sinks' }, members[0])],
		['Status', [badge(s.status), s.status_reason ? ` ${s.status_reason}` : '']],
		['Source', s.source || h('span', { class: 'muted' }, 'any')],
		['Types', s.types ? s.types.join(', ') : h('span', { class: 'muted' }, 'any')],
		['Filters', s.filters ? h('pre', {}, JSON.stringify(s.filters, null, 2)) : h('span', { class: 'muted' }, 'none')],
		['Delivery', `${d.mode}, ordered by ${d.ordering}, ` +
			(d.rate ? `${d.rate}/s (burst ${d.burst})` : 'no rate limit') +
			`, ${d.max_in_flight} in flight, timeout ${d.timeout_ms} ms`],
		['Retries', `${d.retry.max_attempts} attempts, from ${d.retry.initial_ms} ms ×${d.retry.multiplier} up to ${d.retry.max_ms} ms, jitter ${d.retry.jitter}`],
		['Created', when(s.created_at)],
		['Updated', when(s.updated_at)],
	];
	const setStatusTo = (status, label) => {
		const b = h('button', { type: 'button' }, label);
		b.addEventListener('click', () => busy(b, `${label}…`, async () => {
			await api('PATCH', path, { status });
			await detail(s.id);
			return `Subscription ${status === 'active' ? 'resumed' : status}.`;
		}));
		return b;
	};
	const rotate = h('button', { type: 'button' }, 'Rotate secret');
	rotate.addEventListener('click', async () => {
		if (!(await confirmAction('Make a new signing secret? The old one keeps signing for the grace period.', 'Rotate')))
			return;
		busy(rotate, 'Rotating…', async () => {
			const r = await api('POST', `${path}/rotate-secret`);
			freshSecret = { id: s.id, secret: r.secret,
				note: `Shown once. The old secret signs too until ${new Date(r.previous_secret_expires_at).toLocaleString()}.` };
			await detail(s.id);
			return 'New secret made: copy it now.';
		});
	});
	const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
	del.addEventListener('click', async () => {
		if (!(await confirmAction(`Delete the subscription to ${sinkText(s)}? Its deliveries stop at once.`, 'Delete')))
			return;
		busy(del, 'Deleting…', async () => {
			await api('DELETE', path);
			location.hash = '#/subscriptions';
			return 'Subscription deleted.';
		});
	});
	show(sinkText(s),
		h('p', {}, h('a', { href: '#/subscriptions' }, '← Subscriptions')),
		h('h1', {}, 'Subscription ', h('span', { class: 'mono' }, s.id)),
		secret ? secretBox(secret.secret, secret.note) : null,
		h('div', { class: 'card' }, h('dl', { class: 'props' }, props.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
		h('div', { class: 'actions' },
			h('a', { class: 'button', href: `#/subscriptions/${enc(s.id)}/edit` }, 'Edit'),
			s.status === 'active' ? setStatusTo('paused', 'Pause') : setStatusTo('active', 'Resume'),
			s.status !== 'disabled' ? setStatusTo('disabled', 'Disable') : null,
			rotate, del),
		await deliveriesCard(s));
}

// The form's inputs: [data-field (herald's name), label, attributes, hint].
const NUMBERS = [
	['delivery.rate', 'Rate (requests/s)', { min: 0, step: 'any' }, '0: no limit'],
	['delivery.burst', 'Burst', { min: 1, step: 1 }, 'default: the rate'],
	['delivery.max_in_flight', 'Max in flight', { min: 1, step: 1 }],
	['delivery.timeout_ms', 'Timeout (ms)', { min: 100, step: 1 }],
];
const RETRY = [
	['delivery.retry.max_attempts', 'Max attempts', { min: 1, step: 1 }],
	['delivery.retry.initial_ms', 'First delay (ms)', { min: 0, step: 1 }],
	['delivery.retry.multiplier', 'Multiplier', { min: 1, step: 'any' }],
	['delivery.retry.max_ms', 'Longest delay (ms)', { min: 0, step: 1 }],
	['delivery.retry.jitter', 'Jitter (0 to 1)', { min: 0, max: 1, step: 'any' }],
];

function inputId(field) {
	return 'f-' + field.replace(/[^a-z0-9]+/gi, '-');
}

function field(name, label, control, hint) {
	control.id = inputId(name);
	control.dataset.field = name;
	return h('label', { for: control.id }, label, control, hint ? h('span', { class: 'hint' }, hint) : null);
}

function get(obj, path) {
	return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function set(obj, path, value) {
	const keys = path.split('.');
	let o = obj;
	for (const k of keys.slice(0, -1))
		o = o[k] = o[k] || {};
	o[keys[keys.length - 1]] = value;
}

export async function form(id) {
	const s = id === null ? null : await load(id);
	if (id !== null && s === null)
		return;
	const v = (name) => (s ? get(s, name) : undefined);
	const text = (name, value, attrs) => h('input', { type: 'text', value: value ?? '', ...attrs });
	const area = (value) => h('textarea', { rows: 4, spellcheck: 'false' }, value ?? '');
	const select = (options, value) => h('select', {}, options.map((o) =>
		h('option', { value: o, selected: o === value }, o)));
	const number = ([name, , attrs]) => h('input', { type: 'number', value: v(name) ?? '', ...attrs });
	const headers = v('protocolsettings.headers');
	const members = s ? sinksOf(s) : [];
	const controls = {
		// one URL, or a consumer group's: one a line
		sink: field('sink', 'Sink URLs', h('textarea', { rows: Math.max(2, members.length + 1), spellcheck: 'false', wrap: 'off',
			required: true, inputmode: 'url', placeholder: 'https://example.com/hook' }, members.join('\n')),
		'One URL a line. Two or more (16 at most) make a consumer group: each delivery goes to one of them.'),
		source: field('source', 'Source', text('source', v('source')), 'Only events of this source (empty: any).'),
		types: field('types', 'Types', area((v('types') || []).join('\n')), 'One event type a line (empty: any type).'),
		filters: field('filters', 'Filters (JSON)', area(v('filters') ? JSON.stringify(v('filters'), null, 2) : ''),
			'A JSON array, e.g. [{"prefix": {"subject": "eu/"}}] (empty: none).'),
		headers: field('protocolsettings.headers', 'Extra headers (JSON)', area(headers ? JSON.stringify(headers, null, 2) : ''),
			'A JSON object of header names and values (empty: none).'),
		token: field('sinkcredential.access_token', 'Access token for the sink',
			h('input', { type: 'password', autocomplete: 'off', value: '' }),
			s ? 'Leave empty to keep the current one (it is never shown).' : 'Sent as Authorization: Bearer (optional).'),
		mode: field('delivery.mode', 'Mode', select(['binary', 'structured'], v('delivery.mode'))),
		ordering: field('delivery.ordering', 'Ordering', select(['partitionkey', 'subject', 'none', 'global'], v('delivery.ordering'))),
	};
	const error = h('p', { class: 'form-error', tabindex: '-1', role: 'alert' });
	const submit = h('button', { type: 'submit', class: 'primary' }, s ? 'Save' : 'Create');
	const f = h('form', { class: 'stack', id: 'subscription-form', novalidate: true },
		controls.sink, controls.source, controls.types, controls.filters,
		h('fieldset', {}, h('legend', {}, 'Delivery'),
			h('div', { class: 'grid' }, controls.mode, controls.ordering,
				NUMBERS.map((n) => field(n[0], n[1], number(n), n[3])))),
		h('fieldset', {}, h('legend', {}, 'Retries'),
			h('div', { class: 'grid' }, RETRY.map((n) => field(n[0], n[1], number(n), n[3])))),
		h('fieldset', {}, h('legend', {}, 'Request'), controls.headers, controls.token),
		error,
		h('div', { class: 'actions' }, submit,
			h('a', { href: s ? `#/subscriptions/${enc(s.id)}` : '#/subscriptions' }, 'Cancel')));
	f.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(f);
		const body = {};
		const val = (name) => f.querySelector(`[data-field="${name}"]`).value.trim();
		// empty means the default: null (a create takes it as absent, an
		// edit, a merge patch, as "back to the default")
		// one URL is a sink, more a consumer group; where each came from
		// (its line) for herald's errors, which name sinks[i]
		const lines = f.querySelector('[data-field="sink"]').value.split('\n');
		const sinks = [], lineOf = [];
		lines.forEach((l, i) => {
			if (l.trim()) {
				sinks.push(l.trim());
				lineOf.push(i + 1);
			}
		});
		if (sinks.length > 1)
			body.sinks = sinks;
		else
			body.sink = sinks[0] || '';
		body.source = val('source') || null;
		const types = val('types').split(/[\n,]/).map((t) => t.trim()).filter((t) => t);
		body.types = types.length ? types : null;
		for (const [name, key] of [['filters', 'filters'], ['protocolsettings.headers', 'protocolsettings']]) {
			const raw = val(name);
			if (raw === '') {
				body[key] = null;
				continue;
			}
			let parsed;
			try {
				parsed = JSON.parse(raw);
			} catch (e) {
				fieldError(f, name, `not valid JSON: ${e.message}`);
				return;
			}
			if (key === 'protocolsettings')
				body.protocolsettings = { headers: parsed };
			else
				body[key] = parsed;
		}
		const token = val('sinkcredential.access_token');
		if (token)
			body.sinkcredential = { credential_type: 'ACCESSTOKEN', access_token: token };
		set(body, 'delivery.mode', val('delivery.mode'));
		set(body, 'delivery.ordering', val('delivery.ordering'));
		for (const [name] of [...NUMBERS, ...RETRY]) {
			const raw = val(name);
			set(body, name, raw === '' ? null : Number(raw));
		}
		await busy(submit, s ? 'Saving…' : 'Creating…', async () => {
			try {
				const saved = s ? await api('PATCH', `/v1/subscriptions/${enc(s.id)}`, body) :
					await api('POST', '/v1/subscriptions', body);
				if (!s)
					freshSecret = { id: saved.id, secret: saved.secret,
						note: 'Shown once: receivers verify deliveries with it.' };
				location.hash = `#/subscriptions/${enc(saved.id)}`;
				return s ? 'Subscription saved.' : 'Subscription created: copy its secret now.';
			} catch (e) {
				if (e instanceof ApiError && e.status === 400) {
					const member = /^sinks\[(\d+)\]/.exec(e.field);
					if (member && lineOf[member[1]])
						fieldError(f, 'sink', `${e.field} (line ${lineOf[member[1]]}): ${e.message}`);
					else
						fieldError(f, e.field === 'sinks' ? 'sink' : e.field, e.message);
					throw new Error('herald refused the subscription: see the field marked.');
				}
				throw e;
			}
		});
	});
	show(s ? 'Edit subscription' : 'New subscription',
		h('p', {}, h('a', { href: s ? `#/subscriptions/${enc(s.id)}` : '#/subscriptions' }, '← Back')),
		h('h1', {}, s ? 'Edit subscription' : 'New subscription'), f);
}
