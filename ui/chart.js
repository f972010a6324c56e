// Line charts drawn as SVG by the page (no library): time on x, one
// line per series, gaps where a value is unknown.  Colours come from
// style.css (classes s0, s1...), as the CSP allows no inline style.
import { h } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 600, H = 170; // the viewBox
const LEFT = 48, RIGHT = 8, TOP = 10, BOTTOM = 22;

function s(tag, attrs, ...children) {
	const e = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		e.setAttribute(k, String(v));
	for (const c of children)
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	return e;
}

// The smallest of 1, 2, 2.5, 5 × 10^n at or above v (1 for 0).
function niceCeil(v) {
	if (!(v > 0))
		return 1;
	const p = 10 ** Math.floor(Math.log10(v));
	for (const m of [1, 2, 2.5, 5, 10])
		if (m * p >= v)
			return m * p;
	return 10 * p;
}

// A number the way the axis and the summary show it.
export function num(v, digits = 2) {
	if (v === null || v === undefined || Number.isNaN(v))
		return '—';
	if (v >= 1000)
		return Math.round(v).toLocaleString();
	return String(Number(v.toFixed(v >= 10 ? 1 : digits)));
}

function hhmm(t) {
	return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// chart({id, title, unit, from, to, series: [{name, points: [[ms, v|null]...]}],
// max}) -> a figure: the SVG (data-max: the largest value drawn, data-points:
// how many known values), a legend and a caption saying the latest values.
export function chart(o) {
	const values = o.series.flatMap((se) => se.points.map((p) => p[1]).filter((v) => v !== null));
	const peak = values.length ? Math.max(...values) : 0;
	const top = o.max ?? niceCeil(peak);
	const x = (t) => LEFT + ((t - o.from) / (o.to - o.from)) * (W - LEFT - RIGHT);
	const y = (v) => TOP + (1 - Math.min(v, top) / top) * (H - TOP - BOTTOM);
	const titleId = `${o.id}-title`;
	const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': titleId,
		class: 'chart', id: o.id, 'data-max': peak, 'data-points': values.length },
	s('title', { id: titleId }, o.title));
	for (const f of [0, 0.5, 1]) {
		const v = top * f;
		svg.append(s('line', { class: 'grid', x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }),
			s('text', { class: 'axis', x: LEFT - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v)));
	}
	svg.append(s('text', { class: 'axis', x: LEFT, y: H - 6 }, hhmm(o.from)),
		s('text', { class: 'axis', x: W - RIGHT, y: H - 6, 'text-anchor': 'end' }, hhmm(o.to)));
	o.series.forEach((se, i) => {
		// one polyline per run of known values; a lone value is a dot
		let run = [];
		const flush = () => {
			if (run.length === 1)
				svg.append(s('circle', { class: `line s${i}`, cx: run[0][0], cy: run[0][1], r: 2 }));
			else if (run.length > 1)
				svg.append(s('polyline', { class: `line s${i}`, points: run.map((p) => p.join(',')).join(' ') }));
			run = [];
		};
		for (const [t, v] of se.points) {
			if (v === null)
				flush();
			else
				run.push([x(t).toFixed(1), y(v).toFixed(1)]);
		}
		flush();
	});
	const latest = o.series.map((se) => {
		const known = se.points.filter((p) => p[1] !== null);
		return `${se.name} ${known.length ? num(known[known.length - 1][1]) : '—'}${o.unit}`;
	});
	return h('figure', { class: 'card chart-card' },
		h('figcaption', {}, h('strong', {}, o.title), ' ',
			h('span', { class: 'muted' }, values.length ? `now: ${latest.join(', ')}` : 'no data yet')),
		svg,
		o.series.length > 1 ? h('p', { class: 'legend' }, o.series.map((se, i) =>
			h('span', {}, h('span', { class: `swatch s${i}`, 'aria-hidden': 'true' }), se.name))) : null);
}
