// The overview, the landing page: for an admin key, this instance's last
// hour as charts (GET /v1/stats); for every key, the subscriptions it
// may see that need attention (failing, disabled, backing up), worst first.
import { api, can, enc } from './api.js';
import { busy, failureText, h, show, sinkLink, when } from './ui.js';
import { chart, num } from './chart.js';

const REFRESH_MS = 10000;
// An active subscription whose oldest due delivery has waited this long
// is not keeping up.
const BACKING_UP_S = 10;

const t = (s) => (s ? Date.parse(s) : 0);

// Why a subscription needs attention, or null: {rank (lower is worse),
// reason, score (higher is worse within a rank)}.
export function trouble(s) {
	const a = s.attempts, b = s.backlog;
	if (s.status !== 'disabled' && a && a.last_failure_at && t(a.last_failure_at) > t(a.last_success_at))
		return { rank: 0, reason: 'failing', score: a.recent_failed / a.recent + t(a.last_failure_at) / 1e15 };
	if (s.status === 'disabled')
		return { rank: 1, reason: 'disabled', score: t(s.updated_at) };
	if (b && b.due > 0 && (s.status === 'paused' || b.oldest_due_seconds >= BACKING_UP_S))
		return { rank: s.status === 'paused' ? 3 : 2, reason: s.status === 'paused' ? 'paused' : 'backing up',
			score: b.oldest_due_seconds };
	return null;
}

function attentionTable(subs) {
	const rows = subs.map((s) => ({ s, why: trouble(s) })).filter((r) => r.why)
		.sort((p, q) => p.why.rank - q.why.rank || q.why.score - p.why.score);
	if (rows.length === 0)
		return h('p', { id: 'attention-none', class: 'muted' }, 'Nothing needs attention: no subscription is failing, disabled or backing up.');
	return h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'attention' },
		h('thead', {}, h('tr', {}, ['Subscription', 'Why', 'Recent attempts', 'Last success', 'Last failure', 'Backlog']
			.map((c) => h('th', { scope: 'col' }, c)))),
		h('tbody', {}, rows.map(({ s, why }) => {
			const a = s.attempts, b = s.backlog;
			return h('tr', { dataset: { id: s.id, reason: why.reason } },
				h('td', { 'data-label': 'Subscription', class: 'wrap' }, sinkLink(s, `#/subscriptions/${enc(s.id)}`)),
				h('td', { 'data-label': 'Why' }, h('span', {}, h('span', { class: `badge ${why.reason.replace(' ', '-')}` }, why.reason),
					s.status_reason ? h('span', { class: 'muted' }, ` ${s.status_reason}`) : null)),
				h('td', { 'data-label': 'Recent attempts' }, a ? `${a.recent_failed} of ${a.recent} failed` : h('span', { class: 'muted' }, 'none')),
				h('td', { 'data-label': 'Last success' }, when(a && a.last_success_at)),
				h('td', { 'data-label': 'Last failure' }, a && a.last_failure_at ?
					h('span', {}, when(a.last_failure_at), ' ', h('span', { class: 'mono' }, failureText(a.last_failure))) : when(null)),
				h('td', { 'data-label': 'Backlog' }, b ? `${b.pending} pending` +
					(b.due > 0 ? `, oldest due ${Math.round(b.oldest_due_seconds)} s` : '') : h('span', { class: 'muted' }, '—')));
		}))));
}

function tile(label, value, detail, id) {
	return h('div', { class: 'tile', id }, h('span', { class: 'muted' }, label),
		h('strong', {}, value), detail ? h('span', { class: 'muted' }, detail) : null);
}

const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);

// The charts and tiles from GET /v1/stats.
function statsView(st) {
	const iv = st.intervals;
	// the window, or the history there is when shorter (a minute at least)
	const to = Date.now();
	const from = Math.min(to - 60000, Math.max(to - st.window_seconds * 1000,
		iv.length ? t(iv[0].at) - iv[0].seconds * 1000 : 0));
	const pts = (f) => iv.map((v) => [t(v.at), f(v)]);
	const rate = (f) => pts((v) => f(v) / v.seconds);
	const failedAttempts = (v) => sum(v.attempts) - v.attempts.success;
	const total = (f) => iv.reduce((a, v) => a + f(v), 0);
	const attempts = total((v) => sum(v.attempts)), successes = total((v) => v.attempts.success);
	const last = iv.length ? iv[iv.length - 1] : null;
	const backlog = last && last.backlog;
	return [
		h('div', { class: 'tiles' },
			tile('Ingested', num(total((v) => v.ingested.accepted), 0),
				last ? `${num(last.ingested.accepted / last.seconds)}/s now` : null, 'tile-ingested'),
			tile('Attempts', num(attempts, 0), `${num(successes, 0)} succeeded`, 'tile-attempts'),
			tile('Success ratio', attempts ? `${num((100 * successes) / attempts, 1)} %` : '—', null, 'tile-ratio'),
			tile('Backlog', backlog ? num(backlog.due + backlog.not_due, 0) : '—',
				backlog ? `${num(backlog.due, 0)} due` : 'not sampled', 'tile-backlog'),
			tile('Oldest due', backlog ? `${num(backlog.oldest_due_seconds, 0)} s` : '—', null, 'tile-oldest')),
		h('div', { class: 'charts' },
			chart({ id: 'chart-ingest', title: 'Events ingested', unit: '/s', from, to, series: [
				{ name: 'accepted', points: rate((v) => v.ingested.accepted) },
				{ name: 'duplicate or rejected', points: rate((v) => v.ingested.duplicate + v.ingested.rejected) }] }),
			chart({ id: 'chart-delivery', title: 'Delivery attempts', unit: '/s', from, to, series: [
				{ name: 'succeeded', points: rate((v) => v.attempts.success) },
				{ name: 'failed', points: rate(failedAttempts) }] }),
			chart({ id: 'chart-ratio', title: 'Success ratio', unit: ' %', from, to, max: 100, series: [
				{ name: 'succeeded', points: pts((v) => (sum(v.attempts) ? (100 * v.attempts.success) / sum(v.attempts) : null)) }] }),
			chart({ id: 'chart-backlog', title: 'Backlog', unit: '', from, to, series: [
				{ name: 'due', points: pts((v) => (v.backlog ? v.backlog.due : null)) },
				{ name: 'waiting for a retry', points: pts((v) => (v.backlog ? v.backlog.not_due : null)) }] }),
			chart({ id: 'chart-oldest', title: 'Oldest due delivery', unit: ' s', from, to, series: [
				{ name: 'age', points: pts((v) => (v.backlog ? v.backlog.oldest_due_seconds : null)) }] })),
	];
}

// A tenant's summary: its subscriptions by status and their backlog.
function subsTiles(subs) {
	const by = (st) => subs.filter((s) => s.status === st).length;
	const pending = subs.reduce((a, s) => a + (s.backlog ? s.backlog.pending : 0), 0);
	const failing = subs.filter((s) => trouble(s)?.reason === 'failing').length;
	return h('div', { class: 'tiles' },
		tile('Subscriptions', num(subs.length, 0), `${by('active')} active, ${by('paused')} paused, ${by('disabled')} disabled`, 'tile-subscriptions'),
		tile('Failing', num(failing, 0), null, 'tile-failing'),
		tile('Backlog', num(pending, 0), 'pending deliveries', 'tile-backlog'));
}

export async function overview() {
	const admin = can('admin');
	const body = h('div', { id: 'overview', 'aria-live': 'off' });
	const refresh = h('button', { type: 'button', id: 'overview-refresh' }, 'Refresh');
	let timer = null;
	const load = async () => {
		clearTimeout(timer);
		const [subs, stats] = await Promise.all([api('GET', '/v1/subscriptions'),
			admin ? api('GET', '/v1/stats?window=3600') : null]);
		body.replaceChildren(
			...(admin ? statsView(stats) : [subsTiles(subs)]),
			h('h2', {}, 'Needs attention'),
			attentionTable(subs));
		body.dataset.loadedAt = String(Date.now());
		schedule();
	};
	// every REFRESH_MS while the page is shown
	const schedule = () => {
		timer = setTimeout(() => {
			if (body.isConnected)
				load().catch(() => schedule());
		}, REFRESH_MS);
	};
	refresh.addEventListener('click', () => busy(refresh, 'Refreshing…', async () => {
		await load();
	}));
	try {
		await load();
	} catch (e) {
		show('Overview', h('h1', {}, 'Overview'), h('p', { class: 'form-error' }, e.message));
		return;
	}
	show('Overview',
		h('h1', {}, 'Overview'),
		h('div', { class: 'actions' },
			h('p', { class: 'muted grow' }, admin ?
				'This instance over the last hour, a point every 10 s (the backlog is every instance\'s); refreshed every 10 s.' :
				'Your subscriptions; refreshed every 10 s. Attempts are those this instance made since it started.'),
			refresh),
		body);
}
