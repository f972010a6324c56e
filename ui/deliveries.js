// A subscription's deliveries: filtered by state and paged from the
// server; one delivery with its attempt log and its event; retry, replay.
import { api, ApiError, can, enc } from './api.js';
import { badge, busy, confirmAction, h, notFound, setStatus, show, sinkText, when } from './ui.js';
import { eventBody } from './events.js';

const PAGE = 25;

// The deliveries card of a subscription's page.
export async function deliveriesCard(s) {
	const base = `/v1/subscriptions/${enc(s.id)}`;
	const state = h('select', { id: 'delivery-state' },
		['', 'pending', 'succeeded', 'failed'].map((v) => h('option', { value: v }, v || 'any')));
	const tableArea = h('div', { id: 'deliveries' });
	const prev = h('button', { type: 'button', id: 'deliveries-prev' }, '← Previous');
	const next = h('button', { type: 'button', id: 'deliveries-next' }, 'Next →');
	const refresh = h('button', { type: 'button', id: 'deliveries-refresh' }, 'Refresh');
	// a consumer group's deliveries say which member took the last attempt
	const group = Boolean(s.sinks && s.sinks.length > 1);
	// the `after` of each page shown so far: the last is the current one
	let pages = [0];
	let nextAfter = null;

	async function load() {
		const after = pages[pages.length - 1];
		const q = new URLSearchParams({ after: String(after), limit: String(PAGE) });
		if (state.value)
			q.set('state', state.value);
		const page = await api('GET', `${base}/deliveries?${q}`);
		nextAfter = page.next_after;
		prev.disabled = pages.length === 1;
		next.disabled = nextAfter === null;
		tableArea.replaceChildren(page.items.length === 0 ?
			h('p', { class: 'muted' }, state.value ? `No ${state.value} deliveries.` : 'No deliveries yet.') :
			h('div', { class: 'table-wrap' }, h('table', { class: 'responsive' },
				h('thead', {}, h('tr', {}, ['Seq', 'Event', 'State', 'Attempts', 'Last status', 'Last error', group ? 'Last sink' : null,
					'Next attempt / done'].filter((t) => t).map((t) => h('th', { scope: 'col' }, t)))),
				h('tbody', {}, page.items.map((d) => h('tr', { dataset: { seq: String(d.seq), state: d.state } },
					h('td', { 'data-label': 'Seq' }, h('a', { href: `#/subscriptions/${enc(s.id)}/deliveries/${d.seq}` }, String(d.seq))),
					h('td', { 'data-label': 'Event', class: 'wrap' }, `${d.source} ${d.event_id}`),
					h('td', { 'data-label': 'State' }, badge(d.state)),
					h('td', { 'data-label': 'Attempts' }, String(d.attempts)),
					h('td', { 'data-label': 'Last status' }, d.last_status === null ? '—' : String(d.last_status)),
					h('td', { 'data-label': 'Last error', class: 'wrap' }, d.last_error || '—'),
					group ? h('td', { 'data-label': 'Last sink', class: 'wrap mono last-sink' }, d.last_sink || '—') : null,
					h('td', { 'data-label': 'Next attempt / done' }, when(d.next_attempt_at))))))));
	}

	const run = (button, f) => busy(button, 'Loading…', async () => {
		await f();
		await load();
	});
	state.addEventListener('change', () => run(null, () => { pages = [0]; }));
	prev.addEventListener('click', () => run(prev, () => { pages.pop(); }));
	next.addEventListener('click', () => run(next, () => { pages.push(nextAfter); }));
	refresh.addEventListener('click', () => run(refresh, () => {}));

	// replay: the failed ones, or every event from a seq or since a time
	const kind = h('select', { id: 'replay-kind' },
		h('option', { value: 'failed' }, 'failed deliveries'),
		h('option', { value: 'from_seq' }, 'events from seq'),
		h('option', { value: 'since' }, 'events since'));
	const from = h('input', { id: 'replay-from', type: 'text', placeholder: 'seq, or 2025-01-31T12:00:00Z', disabled: true });
	kind.addEventListener('change', () => { from.disabled = kind.value === 'failed'; });
	const replay = h('button', { type: 'submit', id: 'replay' }, 'Replay');
	const replayForm = h('form', { class: 'filters', id: 'replay-form' },
		h('label', { for: 'replay-kind' }, 'Replay', kind),
		h('label', { for: 'replay-from' }, 'From', from), replay);
	replayForm.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		let body, what;
		if (kind.value === 'failed') {
			body = { state: 'failed' };
			what = 'every failed delivery';
		} else if (kind.value === 'from_seq') {
			body = { from_seq: Number(from.value) };
			what = `every matching event from seq ${from.value}`;
		} else {
			body = { since: from.value.trim() };
			what = `every matching event since ${from.value}`;
		}
		// the count first (a dry run sends nothing), then the operation,
		// which herald runs in the background: follow it to its end
		let count;
		try {
			count = (await api('POST', `${base}/replay`, { ...body, dry_run: true })).selected;
		} catch (e) {
			setStatus(e.message, 'error');
			return;
		}
		const n = `${count} ${count === 1 ? 'delivery' : 'deliveries'}`;
		if (!(await confirmAction(`Send ${what} to ${sinkText(s)} again: ${n} now?`, 'Replay')))
			return;
		busy(replay, 'Replaying…', async () => {
			let op = await api('POST', `${base}/replay`, body);
			for (let i = 0; i < 600 && (op.state === 'queued' || op.state === 'running'); i++) {
				await new Promise((r) => setTimeout(r, 500));
				op = await api('GET', `${base}/operations/${enc(op.id)}`);
			}
			await load();
			if (op.state !== 'succeeded')
				throw new Error(`The replay is ${op.state}${op.error ? `: ${op.error}` : ''} (${op.enqueued} put back in line so far).`);
			return `${op.enqueued} ${op.enqueued === 1 ? 'delivery' : 'deliveries'} put back in line.`;
		});
	});

	await load().catch((e) => tableArea.replaceChildren(h('p', { class: 'form-error' }, e.message)));
	return h('section', { 'aria-labelledby': 'deliveries-h' },
		h('h2', { id: 'deliveries-h' }, 'Deliveries'),
		h('div', { class: 'filters' }, h('label', { for: 'delivery-state' }, 'State', state), refresh),
		tableArea,
		h('div', { class: 'pager' }, prev, next),
		h('h2', {}, 'Replay'), replayForm);
}

// One delivery: its fields, attempt log and event; retry it.
export async function detail(id, seq) {
	const path = `/v1/subscriptions/${enc(id)}/deliveries/${enc(seq)}`;
	let d;
	try {
		d = await api('GET', path);
	} catch (e) {
		if (e instanceof ApiError && e.status === 404) {
			notFound(`Delivery ${seq} of subscription ${id}`, `#/subscriptions/${enc(id)}`, 'The subscription');
			return;
		}
		show('Delivery', h('h1', {}, 'Delivery'), h('p', { class: 'form-error' }, e.message));
		return;
	}
	const retry = h('button', { type: 'button', id: 'retry', disabled: d.state === 'pending' }, 'Retry');
	retry.addEventListener('click', () => busy(retry, 'Retrying…', async () => {
		await api('POST', `${path}/retry`);
		await detail(id, seq);
		return `Delivery ${seq} put back in line.`;
	}));
	// in a consumer group, the member each attempt went to
	const group = d.attempt_log.some((a) => a.sink);
	const attempts = d.attempt_log.length === 0 ? h('p', { class: 'muted' }, 'No attempt yet.') :
		h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'attempts' },
			h('thead', {}, h('tr', {}, ['#', 'Time', group ? 'Sink' : null, 'Status', 'Latency', 'Error', 'Response']
				.filter((t) => t).map((t) => h('th', { scope: 'col' }, t)))),
			h('tbody', {}, d.attempt_log.map((a, i) => h('tr', {},
				h('td', { 'data-label': '#' }, String(i + 1)),
				h('td', { 'data-label': 'Time' }, when(a.at)),
				group ? h('td', { 'data-label': 'Sink', class: 'wrap mono attempt-sink' }, a.sink || '—') : null,
				h('td', { 'data-label': 'Status' }, a.status === null ? '—' : String(a.status)),
				h('td', { 'data-label': 'Latency' }, a.latency_ms === null ? '—' : `${a.latency_ms} ms`),
				h('td', { 'data-label': 'Error', class: 'wrap' }, a.error || '—'),
				h('td', { 'data-label': 'Response', class: 'wrap' }, a.response ? h('pre', {}, a.response) : '—'))))));
	let event = h('p', { class: 'muted' }, 'Reading an event needs a key with the publish scope.');
	if (can('publish')) {
		try {
			event = eventBody(await api('GET', `/v1/events/${enc(seq)}`));
		} catch (e) {
			event = h('p', { class: 'form-error' }, e.message);
		}
	}
	show(`Delivery ${seq}`,
		h('p', {}, h('a', { href: `#/subscriptions/${enc(id)}` }, '← The subscription')),
		h('h1', {}, `Delivery ${seq}`),
		h('div', { class: 'card' }, h('dl', { class: 'props' },
			h('dt', {}, 'State'), h('dd', { id: 'delivery-state-value' }, badge(d.state)),
			h('dt', {}, 'Event'), h('dd', {}, `${d.source} ${d.event_id}`),
			h('dt', {}, 'Attempts'), h('dd', {}, String(d.attempts)),
			d.last_sink ? [h('dt', {}, 'Last sink'), h('dd', { class: 'mono', id: 'delivery-last-sink' }, d.last_sink)] : null,
			h('dt', {}, d.state === 'pending' ? 'Next attempt' : 'Finished'), h('dd', {}, when(d.next_attempt_at)),
			h('dt', {}, 'Last error'), h('dd', {}, d.last_error || '—'))),
		h('div', { class: 'actions' }, retry,
			d.state === 'pending' ? h('span', { class: 'muted' }, 'A pending delivery cannot be retried.') : null),
		h('h2', {}, 'Attempt log'), attempts,
		h('h2', {}, 'Event'), event);
}
