// The console's one way to herald's JSON API: the key from sessionStorage
// as Authorization: Bearer (never in a URL), JSON in and out, errors as
// ApiError with herald's code, message and field.
const KEY = 'herald.key';

export class ApiError extends Error {
	constructor(status, body) {
		super((body && body.message) || `HTTP ${status}`);
		this.status = status;
		this.code = (body && body.error) || '';
		this.field = (body && body.field) || '';
	}
}

export function getKey() {
	return sessionStorage.getItem(KEY);
}

export function setKey(key) {
	sessionStorage.setItem(KEY, key);
}

export function clearKey() {
	sessionStorage.removeItem(KEY);
}

// Called with the ApiError of a 401: the key stopped working.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
	onUnauthorized = f;
}

// api('GET', '/v1/subscriptions') -> the parsed body (null when empty).
export async function api(method, path, body) {
	const headers = { Accept: 'application/json' };
	const key = getKey();
	if (key)
		headers.Authorization = `Bearer ${key}`;
	const init = { method, headers, cache: 'no-store', credentials: 'omit' };
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let resp;
	try {
		resp = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, { error: 'network', message: `herald did not answer (${e.message})` });
	}
	const text = await resp.text();
	let parsed = null;
	if (text !== '') {
		try {
			parsed = JSON.parse(text);
		} catch {
			parsed = { error: 'bad_answer', message: `herald answered ${resp.status} with a body that is not JSON` };
		}
	}
	if (!resp.ok) {
		const err = new ApiError(resp.status, parsed);
		if (resp.status === 401)
			onUnauthorized(err);
		throw err;
	}
	return parsed;
}

export const enc = encodeURIComponent;

// The signed-in key: {id, scopes} from GET /v1/keys/self.
export const session = { id: null, scopes: [] };

// What the key may do (admin may do everything).
export function can(scope) {
	return session.scopes.includes('admin') || session.scopes.includes(scope);
}
