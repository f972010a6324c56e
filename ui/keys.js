// API keys (admin): list, create (the key shown once), revoke.
import { api, enc } from './api.js';
import { badge, busy, clearErrors, confirmAction, copyButton, fieldError, h, show, when } from './ui.js';

export async function list(fresh) {
	let keys;
	try {
		keys = await api('GET', '/v1/keys');
	} catch (e) {
		show('Keys', h('h1', {}, 'API keys'), h('p', { class: 'form-error' }, e.message));
		return;
	}
	const name = h('input', { id: 'key-name', type: 'text', required: true, 'data-field': 'name' });
	const scopes = ['publish', 'subscribe', 'admin'].map((s) =>
		h('label', { class: 'check', for: `scope-${s}` }, h('input', { type: 'checkbox', id: `scope-${s}`, value: s }), s));
	const create = h('button', { type: 'submit', class: 'primary' }, 'Create key');
	const form = h('form', { class: 'stack card', id: 'key-form' },
		h('label', { for: 'key-name' }, 'Name', name),
		h('fieldset', { id: 'key-scopes', 'data-field': 'scopes' }, h('legend', {}, 'Scopes'), scopes),
		h('p', { class: 'form-error', tabindex: '-1', role: 'alert' }),
		h('div', { class: 'actions' }, create));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const chosen = [...form.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
		await busy(create, 'Creating…', async () => {
			try {
				const k = await api('POST', '/v1/keys', { name: name.value.trim(), scopes: chosen });
				await list(k);
				return `Key ${k.id} created: copy it now.`;
			} catch (e) {
				if (e.status === 400)
					fieldError(form, e.field, e.message);
				throw e;
			}
		});
	});
	const rows = keys.map((k) => {
		const revoke = h('button', { type: 'button', class: 'danger' }, 'Revoke');
		revoke.addEventListener('click', async () => {
			if (!(await confirmAction(`Revoke key ${k.id} (${k.name})? Requests with it are refused from then on.`, 'Revoke')))
				return;
			busy(revoke, 'Revoking…', async () => {
				await api('DELETE', `/v1/keys/${enc(k.id)}`);
				await list();
				return `Key ${k.id} revoked.`;
			});
		});
		return h('tr', {},
			h('td', { 'data-label': 'Id' }, k.id),
			h('td', { 'data-label': 'Name', class: 'wrap' }, k.name),
			h('td', { 'data-label': 'Scopes' }, k.scopes.join(', ')),
			h('td', { 'data-label': 'Created' }, when(k.created_at)),
			h('td', { 'data-label': 'State' }, k.revoked_at ? [h('span', { class: 'badge disabled' }, 'revoked'), ' ', when(k.revoked_at)] : badge('active')),
			h('td', { 'data-label': '' }, k.revoked_at ? '' : revoke));
	});
	show('Keys', h('h1', {}, 'API keys'),
		fresh ? h('div', { class: 'secret', id: 'secret' }, h('strong', {}, `Key ${fresh.id}:`),
			h('code', { id: 'secret-value' }, fresh.key), copyButton(fresh.key),
			h('span', { class: 'muted' }, 'Shown once; herald keeps only its hash.')) : null,
		h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', id: 'keys' },
			h('thead', {}, h('tr', {}, ['Id', 'Name', 'Scopes', 'Created', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
			h('tbody', {}, rows))),
		h('h2', {}, 'New key'), form);
}
