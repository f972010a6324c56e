// The console's entry point: sign-in, the navigation the key's scopes
// allow, and the hash router (#/subscriptions/<id>...).  The first page a
// key may see is its landing page: the overview, or the events for a
// publish key.
import { api, ApiError, can, clearKey, getKey, session, setKey, setUnauthorizedHandler } from './api.js';
import { h, pageStatus, show } from './ui.js';
import * as subs from './subscriptions.js';
import * as deliveries from './deliveries.js';
import * as keys from './keys.js';
import * as events from './events.js';
import { overview } from './overview.js';

const PAGES = [
	{ href: '#/overview', label: 'Overview', scope: 'subscribe' },
	{ href: '#/subscriptions', label: 'Subscriptions', scope: 'subscribe' },
	{ href: '#/events', label: 'Events', scope: 'publish' },
	{ href: '#/keys', label: 'Keys', scope: 'admin' },
];

// [pattern, scope, view]; a view gets the captured segments.
const ROUTES = [
	[/^\/overview$/, 'subscribe', () => overview()],
	[/^\/subscriptions$/, 'subscribe', () => subs.list()],
	[/^\/subscriptions\/new$/, 'subscribe', () => subs.form(null)],
	[/^\/subscriptions\/([^/]+)$/, 'subscribe', (id) => subs.detail(id)],
	[/^\/subscriptions\/([^/]+)\/edit$/, 'subscribe', (id) => subs.form(id)],
	[/^\/subscriptions\/([^/]+)\/deliveries\/([^/]+)$/, 'subscribe', (id, seq) => deliveries.detail(id, seq)],
	[/^\/events$/, 'publish', () => events.list()],
	[/^\/events\/([^/]+)$/, 'publish', (seq) => events.detail(seq)],
	[/^\/keys$/, 'admin', () => keys.list()],
];

function home() {
	const first = PAGES.find((p) => can(p.scope));
	return first ? first.href : '#/none';
}

function renderNav() {
	const nav = document.getElementById('nav');
	const here = location.hash.split('/').slice(0, 2).join('/');
	nav.replaceChildren(...PAGES.filter((p) => can(p.scope)).map((p) =>
		h('a', { href: p.href, 'aria-current': p.href === here ? 'page' : false }, p.label)));
	nav.hidden = false;
	document.getElementById('who-text').textContent =
		`key ${session.id} · ${session.scopes.join(', ')}`;
	document.getElementById('who').hidden = false;
}

function signedOut(message) {
	session.id = null;
	session.scopes = [];
	document.getElementById('nav').hidden = true;
	document.getElementById('who').hidden = true;
	const input = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off',
		required: true, spellcheck: 'false', 'aria-describedby': 'key-hint' });
	const error = h('p', { class: 'form-error', role: 'alert' }, message || '');
	const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
	const form = h('form', { class: 'stack card signin', id: 'signin' },
		h('h1', {}, 'Sign in'),
		h('label', { for: 'key' }, 'API key', input,
			h('span', { class: 'hint', id: 'key-hint' },
				'Kept in this tab only (sessionStorage) and sent as Authorization: Bearer.')),
		error, h('div', { class: 'actions' }, button));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		button.disabled = true;
		setKey(input.value.trim());
		if (await whoAmI(error))
			route();
		button.disabled = false;
	});
	show('Sign in', form);
	input.focus();
}

// Ask herald who the stored key is; false (and the reason in errorLine)
// when it is not a working key.
async function whoAmI(errorLine) {
	try {
		const me = await api('GET', '/v1/keys/self');
		session.id = me.id;
		session.scopes = me.scopes;
		return true;
	} catch (e) {
		if (e instanceof ApiError && e.status !== 401)
			errorLine.textContent = e.message;
		else
			errorLine.textContent = 'herald does not know this key (or it was revoked).';
		clearKey();
		return false;
	}
}

async function route() {
	pageStatus();
	if (!getKey()) {
		signedOut();
		return;
	}
	if (session.id === null) {
		const line = h('p');
		if (!(await whoAmI(line))) {
			signedOut(line.textContent);
			return;
		}
	}
	const path = location.hash.replace(/^#/, '') || '/';
	if (path === '/' || path === '') {
		location.replace(home());
		return;
	}
	renderNav();
	for (const [re, scope, view] of ROUTES) {
		const m = re.exec(path);
		if (!m)
			continue;
		if (!can(scope)) {
			show('Not allowed', h('div', { class: 'card' }, h('h1', {}, 'Not allowed'),
				h('p', {}, `This key lacks the ${scope} scope.`)));
			return;
		}
		await view(...m.slice(1).map(decodeURIComponent));
		document.getElementById('main').focus({ preventScroll: true });
		return;
	}
	show('Nothing here', h('div', { class: 'card' }, h('h1', {}, 'Nothing here'),
		h('p', {}, path === '/none' ? 'This key has no scope the console can show.' :
			'No page has this address. '), h('a', { href: home() }, 'Back')));
}

// A key that stops working while signed in (revoked): back to sign-in.
// (At sign-in, whoAmI says why itself.)
setUnauthorizedHandler(() => {
	if (session.id === null)
		return;
	clearKey();
	signedOut('herald no longer accepts this key (revoked?): sign in again.');
});

document.getElementById('sign-out').addEventListener('click', () => {
	clearKey();
	location.hash = '#/';
	signedOut();
});
window.addEventListener('hashchange', route);
route();
