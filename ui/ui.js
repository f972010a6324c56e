// Helpers shared by the pages: building DOM (text only, never HTML from
// data), the status line, confirmations, busy buttons, field errors.

// h('a', {href: '#/x', class: 'y'}, 'text', child...): an element.
// Attributes starting with "on" are listeners; false/null ones are left out.
export function h(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === false || v === null || v === undefined)
			continue;
		if (k.startsWith('on'))
			e.addEventListener(k.slice(2), v);
		else if (k === 'class')
			e.className = v;
		else if (k === 'dataset')
			Object.assign(e.dataset, v);
		else if (k === 'value')
			e.value = v;
		else
			e.setAttribute(k, v === true ? '' : v);
	}
	append(e, children);
	return e;
}

function append(e, children) {
	for (const c of children.flat(Infinity)) {
		if (c === null || c === undefined || c === false)
			continue;
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

// Replace main's content; focus moves there for keyboard users.
export function show(title, ...children) {
	const main = document.getElementById('main');
	main.replaceChildren();
	append(main, children);
	document.title = title ? `${title} · herald` : 'herald';
}

// The status line: what the last action did.  It belongs to the page
// the action was on: a new page clears it, but for an action that moved
// to that page itself (busy() hands its outcome over).
let handedOver = null;
export function setStatus(text, kind) {
	const s = document.getElementById('status');
	s.textContent = text || '';
	s.className = 'status' + (kind ? ` ${kind}` : '');
}

// A new page: the outcome handed over to it, else nothing.
export function pageStatus() {
	const given = handedOver;
	handedOver = null;
	setStatus(given ? given.text : '', given ? given.kind : '');
}

// A modal confirmation: resolves true when confirmed.
export function confirmAction(text, okLabel) {
	const d = document.getElementById('confirm');
	document.getElementById('confirm-text').textContent = text;
	document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
	d.returnValue = '';
	return new Promise((resolve) => {
		d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
		d.showModal();
		document.getElementById('confirm-cancel').focus();
	});
}

// Run an action with its button disabled and its progress and outcome
// in the status line.  f returns the success message (or nothing).
export async function busy(button, working, f) {
	const label = button ? button.textContent : '';
	if (button) {
		button.disabled = true;
		button.textContent = working;
	}
	setStatus(`${working}`, '');
	const from = location.hash;
	// an action that set location.hash moves to another page, whose
	// route() (on hashchange, later) shows the outcome
	const outcome = (text, kind) => {
		setStatus(text, kind);
		if (location.hash !== from)
			handedOver = { text, kind };
	};
	try {
		const msg = await f();
		outcome(msg || '', msg ? 'ok' : '');
		return true;
	} catch (e) {
		outcome(e.message, 'error');
		return false;
	} finally {
		if (button && button.isConnected) {
			button.disabled = false;
			button.textContent = label;
		}
	}
}

// Show an error at its form field: herald's `field` ("delivery.retry.max_ms",
// "filters[0].exact") names it; the nearest input with that data-field, or
// a prefix of it, takes the message, else the form's own error line.
export function fieldError(form, field, message) {
	clearErrors(form);
	let name = field || '';
	for (;;) {
		const input = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
		if (input) {
			const p = h('p', { class: 'field-error', id: `err-${input.id}` },
				field === name ? message : `${field}: ${message}`);
			input.setAttribute('aria-invalid', 'true');
			input.setAttribute('aria-describedby', p.id);
			(input.closest('label') || input).after(p);
			input.focus();
			return;
		}
		const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('['));
		if (cut <= 0)
			break;
		name = name.slice(0, cut);
	}
	const top = form.querySelector('.form-error');
	top.textContent = field ? `${field}: ${message}` : message;
	top.focus();
}

export function clearErrors(form) {
	for (const p of form.querySelectorAll('.field-error'))
		p.remove();
	for (const i of form.querySelectorAll('[aria-invalid]')) {
		i.removeAttribute('aria-invalid');
		i.removeAttribute('aria-describedby');
	}
	form.querySelector('.form-error').textContent = '';
}

export function badge(state) {
	return h('span', { class: `badge ${state}` }, state);
}

// An RFC 3339 time as the reader's local time, the exact value as a title.
export function when(t) {
	if (!t)
		return h('span', { class: 'muted' }, '—');
	const d = new Date(t);
	return h('time', { datetime: t, title: t }, isNaN(d) ? t : d.toLocaleString());
}

// A subscription's sinks: its one sink, or its consumer group's members.
export function sinksOf(s) {
	return s.sinks || (s.sink ? [s.sink] : []);
}

// A subscription's sink on one line: the sink, or a consumer group's
// first member and how many more it has.
export function sinkText(s) {
	const m = sinksOf(s);
	return m.length > 1 ? `${m[0]} +${m.length - 1} more` : m[0] || '';
}

// A link to a subscription named by its sink(s); a group's members in
// its title.
export function sinkLink(s, href) {
	const m = sinksOf(s);
	return h('a', { href, title: m.length > 1 ? m.join('\n') : null }, sinkText(s));
}

// An attempt's failure ({outcome, status}): "http_5xx 500", "timeout".
export function failureText(f) {
	return f.status ? `${f.outcome} ${f.status}` : f.outcome;
}

// A copy button for a value shown once.
export function copyButton(value, label) {
	const b = h('button', { type: 'button' }, label || 'Copy');
	b.addEventListener('click', async () => {
		try {
			await navigator.clipboard.writeText(value);
			setStatus('Copied to the clipboard.', 'ok');
		} catch {
			setStatus('The browser refused the clipboard: select the text and copy it.', 'error');
		}
	});
	return b;
}

// A page for a resource that is not there (or not the caller's).
export function notFound(what, back, backLabel) {
	show('Not found', h('div', { class: 'card notfound' },
		h('h1', {}, 'Not found'),
		h('p', {}, `${what} does not exist, or this key cannot see it.`),
		h('p', {}, h('a', { href: back }, backLabel))));
}
