// Checks the responses an integration test received against doc/openapi.yaml.
//
// Usage: node validate.mjs DOC TEST LOG
//   DOC   the OpenAPI document (doc/openapi.yaml)
//   TEST  the test's name, for the messages
//   LOG   the records tests/integration/lib.sh wrote, one a line:
//         METHOD <tab> STATUS <tab> CONTENT-TYPE <tab> BODY-FILE <tab> URL
//
// Each record is matched to its operation (path template and method) and
// its response (status): a status the document does not list, a content
// type it does not give, or a body its schema refuses is a failure, printed
// as one line naming the test, the route and the JSON pointer at fault.  A
// path no route has must be answered as x-herald-unrouted's 404 says, a
// documented path with another method as its 405 says.  Any request may
// also be answered as x-herald-framing says for its status (a refusal of
// the request's framing, before a route is chosen).
//
// With HERALD_OPENAPI_COVERAGE naming a file, a line "METHOD TEMPLATE
// STATUS" is appended to it for each response checked: what the tests
// exercise, and so what they leave out.
//
// Exits 0 (every response matches), 1 (some do not, or the document cannot
// be read) or 77 (skipped: the npm modules are not installed; set
// HERALD_OPENAPI_MODULES to a node_modules directory, or run `npm ci` here).
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DOC_ID = 'https://herald.invalid/openapi.yaml';

function loadModules() {
	const dirs = [];
	if (process.env.HERALD_OPENAPI_MODULES)
		dirs.push(process.env.HERALD_OPENAPI_MODULES);
	dirs.push(join(here, 'node_modules'));
	for (const d of dirs) {
		try {
			const req = createRequire(join(d, 'noop.js'));
			return {
				Ajv2020: req('ajv/dist/2020').default,
				addFormats: req('ajv-formats').default,
				YAML: req('yaml'),
			};
		} catch {
			// try the next place
		}
	}
	return null;
}

const [docPath, testName, logPath] = process.argv.slice(2);
if (!docPath || !testName || !logPath) {
	console.error('usage: node validate.mjs DOC TEST LOG');
	process.exit(1);
}
const mods = loadModules();
if (mods === null) {
	console.log('skipped: the npm modules ajv, ajv-formats and yaml are not installed ' +
		'(npm ci in tests/openapi, or set HERALD_OPENAPI_MODULES)');
	process.exit(77);
}

const doc = mods.YAML.parse(readFileSync(docPath, 'utf8'));
const ajv = new mods.Ajv2020({ strict: false, allErrors: true });
mods.addFormats(ajv);
ajv.addSchema(doc, DOC_ID);

const pointerToken = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

// The path templates, most literal segments first, as regular expressions.
const routes = Object.keys(doc.paths).map((tpl) => {
	const parts = tpl.split('/').map((seg) =>
		/^\{[^}]+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
	return { tpl, re: new RegExp('^' + parts.join('/') + '$'),
		literal: tpl.split('/').filter((s) => !s.startsWith('{')).length };
}).sort((a, b) => b.literal - a.literal);

// A response object and its pointer, following a local $ref.
function deref(obj, pointer) {
	if (obj && typeof obj.$ref === 'string' && obj.$ref.startsWith('#/')) {
		const p = obj.$ref.slice(1);
		let o = doc;
		for (const t of p.split('/').slice(1))
			o = o?.[t.replace(/~1/g, '/').replace(/~0/g, '~')];
		return { obj: o, pointer: p };
	}
	return { obj, pointer };
}

const compiled = new Map();
function validatorFor(pointer) {
	let v = compiled.get(pointer);
	if (!v) {
		v = ajv.compile({ $ref: DOC_ID + '#' + pointer });
		compiled.set(pointer, v);
	}
	return v;
}

const essence = (ct) => (ct || '').split(';')[0].trim().toLowerCase();
const isJson = (mt) => mt === 'application/json' || mt.endsWith('+json');

function checkRouted(rec) {
	const { method, status, url } = rec;
	const u = new URL(url, 'http://127.0.0.1');
	const path = u.pathname;
	const route = routes.find((r) => r.re.test(path));
	let where, response;

	if (!route) {
		where = `${method} ${path} (no route)`;
		response = doc['x-herald-unrouted']?.['404'];
		if (status !== '404')
			return [`${where}: answered ${status}; a path no route has must be 404`];
		response = deref(response, '/x-herald-unrouted/404');
	} else {
		const item = doc.paths[route.tpl];
		const op = item[method.toLowerCase()];
		if (!op) {
			where = `${method} ${route.tpl} (no such operation)`;
			if (status !== '405')
				return [`${where}: answered ${status}; another method on a documented path must be 405`];
			response = deref(doc['x-herald-unrouted']?.['405'], '/x-herald-unrouted/405');
		} else {
			where = `${method} ${route.tpl}`;
			const base = `/paths/${pointerToken(route.tpl)}/${method.toLowerCase()}/responses`;
			const key = [status, `${status[0]}XX`, 'default'].find((k) => op.responses?.[k]);
			if (!key)
				return [`${where}: status ${status} is not documented (documented: ${Object.keys(op.responses || {}).join(', ')})`];
			response = deref(op.responses[key], `${base}/${pointerToken(key)}`);
		}
	}

	return checkBody(rec, where, response);
}

// The answer against any request's framing refusal of its status, when
// the operation's own responses do not take it.
function checkRecord(rec) {
	const problems = checkRouted(rec);
	const framing = doc['x-herald-framing']?.[rec.status];
	if (problems.length === 0 || !framing)
		return problems;
	const path = new URL(rec.url, 'http://127.0.0.1').pathname;
	const alt = checkBody(rec, `${rec.method} ${path} (framing)`,
		deref(framing, `/x-herald-framing/${pointerToken(rec.status)}`));
	return alt.length === 0 ? [] : problems.concat(alt);
}

function checkBody(rec, where, response) {
	const { status, ctype, bodyFile } = rec;
	if (process.env.HERALD_OPENAPI_COVERAGE)
		appendFileSync(process.env.HERALD_OPENAPI_COVERAGE, `${where} ${status}\n`);
	where = `${where} ${status}`;
	const body = bodyFile ? readFileSync(bodyFile) : Buffer.alloc(0);
	const content = response.obj?.content;
	if (!content || Object.keys(content).length === 0) {
		if (body.length > 0)
			return [`${where}: the document gives no body, the server sent ${body.length} bytes`];
		return [];
	}
	if (body.length === 0)
		return [`${where}: the document gives a body (${Object.keys(content).join(', ')}), the server sent none`];
	const mt = essence(ctype);
	const key = Object.keys(content).find((k) => essence(k) === mt);
	if (!key)
		return [`${where}: content type "${ctype}" is not documented (documented: ${Object.keys(content).join(', ')})`];
	if (!content[key].schema)
		return [];
	let value;
	if (isJson(mt)) {
		try {
			value = JSON.parse(body.toString('utf8'));
		} catch (e) {
			return [`${where}: the body is not JSON: ${e.message}`];
		}
	} else {
		value = body.toString('utf8');
	}
	const validate = validatorFor(`${response.pointer}/content/${pointerToken(key)}/schema`);
	if (validate(value))
		return [];
	const shown = body.toString('utf8').slice(0, 300);
	return validate.errors.map((e) =>
		`${where}: at "${e.instancePath || '/'}" ${e.message}` +
		(e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '') +
		` (schema ${e.schemaPath.replace(DOC_ID, '')}); body: ${shown}`);
}

let lines;
try {
	lines = readFileSync(logPath, 'utf8').split('\n').filter((l) => l !== '');
} catch {
	lines = [];
}
let checked = 0;
const failures = [];
for (const line of lines) {
	const [method, status, ctype, bodyFile, ...rest] = line.split('\t');
	const url = rest.join('\t');
	if (status === '000')
		continue; // no answer: nothing to check
	checked++;
	let problems;
	try {
		problems = checkRecord({ method, status, ctype, bodyFile, url });
	} catch (e) {
		problems = [`${method} ${url} ${status}: cannot check: ${e.message}`];
	}
	// the same problem once per test is enough
	for (const p of problems)
		if (!failures.includes(p))
			failures.push(p);
}
const SHOWN = 40;
for (const f of failures.slice(0, SHOWN))
	console.log(`${testName}: ${f}`);
if (failures.length > SHOWN)
	console.log(`${testName}: ... and ${failures.length - SHOWN} more`);
console.log(`checked ${checked} responses against ${docPath}: ${failures.length} problems`);
process.exit(failures.length ? 1 : 0);
