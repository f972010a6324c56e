// Events: the log paged from the server (admin, by type and source), or
// one event by seq (publish); an event's attributes, data and deliveries.
import { api, ApiError, can, enc } from './api.js';
import { busy, h, notFound, show, when } from './ui.js';

const PAGE = 25;

function hexView(b64) {
	let bytes;
	try {
		bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
	} catch {
		return b64;
	}
	const lines = [];
	for (let i = 0; i < bytes.length; i += 16) {
		const row = Array.from(bytes.slice(i, i + 16));
		lines.push(i.toString(16).padStart(8, '0') + '  ' +
			row.map((b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(48) + ' ' +
			row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join(''));
	}
	return lines.join('\n');
}

// A stored event ({seq, received_at, event, deliveries}) as a card.
export function eventBody(stored) {
	const ev = stored.event;
	const attrs = Object.entries(ev).filter(([k]) => k !== 'data' && k !== 'data_base64');
	let data;
	if ('data_base64' in ev)
		data = [h('p', { class: 'muted' }, `Binary data, ${atob(ev.data_base64).length} bytes:`), h('pre', { id: 'event-data' }, hexView(ev.data_base64))];
	else if (!('data' in ev))
		data = h('p', { class: 'muted' }, 'No data.');
	else
		data = h('pre', { id: 'event-data' }, typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data, null, 2));
	const counts = stored.deliveries;
	return h('div', { class: 'card', id: 'event' },
		h('dl', { class: 'props' },
			h('dt', {}, 'Seq'), h('dd', {}, String(stored.seq)),
			h('dt', {}, 'Received'), h('dd', {}, when(stored.received_at)),
			attrs.map(([k, v]) => [h('dt', { class: 'mono' }, k), h('dd', { class: 'mono' }, String(v))]),
			counts ? [h('dt', {}, 'Deliveries'),
				h('dd', {}, `${counts.pending} pending, ${counts.succeeded} succeeded, ${counts.failed} failed`)] : null),
		h('h3', {}, 'Data'), data);
}

function lookupForm() {
	const input = h('input', { id: 'event-seq', type: 'number', min: 1, required: true });
	const f = h('form', { class: 'filters', id: 'event-lookup' },
		h('label', { for: 'event-seq' }, 'Seq', input), h('button', { type: 'submit' }, 'Open'));
	f.addEventListener('submit', (ev) => {
		ev.preventDefault();
		location.hash = `#/events/${enc(input.value)}`;
	});
	return f;
}

export async function list() {
	if (!can('admin')) {
		show('Events', h('h1', {}, 'Events'),
			h('p', {}, 'Listing the log needs an admin key; open one event by its seq:'), lookupForm());
		return;
	}
	const type = h('input', { id: 'events-type', type: 'text' });
	const source = h('input', { id: 'events-source', type: 'text' });
	const area = h('div', { id: 'events' });
	const prev = h('button', { type: 'button' }, '← Previous');
	const next = h('button', { type: 'button' }, 'Next →');
	let pages = [0];
	let nextAfter = null;
	async function load() {
		const q = new URLSearchParams({ after: String(pages[pages.length - 1]), limit: String(PAGE) });
		if (type.value.trim())
			q.set('type', type.value.trim());
		if (source.value.trim())
			q.set('source', source.value.trim());
		const page = await api('GET', `/v1/events?${q}`);
		nextAfter = page.next_after;
		prev.disabled = pages.length === 1;
		next.disabled = nextAfter === null;
		area.replaceChildren(page.items.length === 0 ? h('p', { class: 'muted' }, 'No events.') :
			h('div', { class: 'table-wrap' }, h('table', { class: 'responsive' },
				h('thead', {}, h('tr', {}, ['Seq', 'Type', 'Source', 'Id', 'Received'].map((t) => h('th', { scope: 'col' }, t)))),
				h('tbody', {}, page.items.map((e) => h('tr', {},
					h('td', { 'data-label': 'Seq' }, h('a', { href: `#/events/${e.seq}` }, String(e.seq))),
					h('td', { 'data-label': 'Type', class: 'wrap' }, e.event.type),
					h('td', { 'data-label': 'Source', class: 'wrap' }, e.event.source),
					h('td', { 'data-label': 'Id', class: 'wrap' }, e.event.id),
					h('td', { 'data-label': 'Received' }, when(e.received_at))))))));
	}
	const filter = h('button', { type: 'submit' }, 'Filter');
	const f = h('form', { class: 'filters', id: 'events-filter' },
		h('label', { for: 'events-type' }, 'Type', type), h('label', { for: 'events-source' }, 'Source', source), filter);
	f.addEventListener('submit', (ev) => {
		ev.preventDefault();
		pages = [0];
		busy(filter, 'Loading…', load);
	});
	prev.addEventListener('click', () => busy(prev, 'Loading…', () => { pages.pop(); return load(); }));
	next.addEventListener('click', () => busy(next, 'Loading…', () => { pages.push(nextAfter); return load(); }));
	await load().catch((e) => area.replaceChildren(h('p', { class: 'form-error' }, e.message)));
	show('Events', h('h1', {}, 'Events'), f, area, h('div', { class: 'pager' }, prev, next),
		h('h2', {}, 'Open by seq'), lookupForm());
}

export async function detail(seq) {
	let stored;
	try {
		stored = await api('GET', `/v1/events/${enc(seq)}`);
	} catch (e) {
		if (e instanceof ApiError && e.status === 404) {
			notFound(`Event ${seq}`, '#/events', 'Events');
			return;
		}
		show('Event', h('h1', {}, 'Event'), h('p', { class: 'form-error' }, e.message));
		return;
	}
	show(`Event ${seq}`, h('p', {}, h('a', { href: '#/events' }, '← Events')),
		h('h1', {}, `Event ${seq}`), eventBody(stored));
}
