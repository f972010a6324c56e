/* CloudEvents 1.0: validate JSON, batch and HTTP binary messages; render JSON. */
#include "cloudevent.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mediatype.h"
#include "text.h"
#include "xalloc.h"

/* Deepest JSON nesting accepted in a body (the event object is level 1). */
#define CE_MAX_DEPTH 64

/* Most members one event object or one set of ce- headers may hold; bounds
 * the quadratic duplicate check of cJSON's linked lists. */
#define CE_MAX_MEMBERS 512

/* What a lexical pre-scan of a JSON body found. */
enum prescan {
	PRESCAN_OK = 0,     /* nothing wrong seen (the parser still decides) */
	PRESCAN_UTF8,       /* not valid UTF-8 */
	PRESCAN_SYNTAX,     /* a raw control character, unbalanced brackets or an
	                     * unterminated string */
	PRESCAN_DEEP,       /* nesting deeper than CE_MAX_DEPTH */
	PRESCAN_NUL_ESCAPE, /* \u0000 in a string, which cJSON cannot hold */
};

static void set_error(struct herald_error *err, const char *code,
		      const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
set_error(struct herald_error *err, const char *code, const char *field,
	  const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	err->index = -1;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* cJSON reports allocation failure with NULL: apply herald's OOM policy. */
static void *
must(void *p)
{
	if (p == NULL) {
		fprintf(stderr, "herald: out of memory in cJSON\n");
		abort();
	}
	return p;
}

/*
 * Decode one UTF-8 sequence from s (len bytes available).  Returns its
 * length and sets *cp, or 0 when it is malformed, overlong, a surrogate or
 * above U+10FFFF.
 */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool
ce_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		/* ASCII, nearly all of an event, eight bytes at a time */
		while (len - i >= 8) {
			uint64_t w;

			memcpy(&w, p + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		n = utf8_next(p + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Why a CloudEvents String value is not allowed, or NULL when it is. */
static const char *
string_problem(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_next(p + i, len - i, &cp);

		if (n == 0)
			return "is not valid UTF-8";
		if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f))
			return "contains a control character";
		if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
			return "contains a Unicode noncharacter";
		i += n;
	}
	return NULL;
}

bool
ce_attr_name_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !text_is_digit(*s))
			return false;
	return true;
}

/* URI reference: no whitespace or control characters. */
static bool
uri_chars_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Absolute URI: scheme ":" rest, RFC 3986. */
static bool
absolute_uri_valid(const char *s)
{
	size_t i = 1;

	if (!text_is_alpha(s[0]))
		return false;
	while (text_is_alpha(s[i]) || text_is_digit(s[i]) || s[i] == '+' ||
	       s[i] == '-' || s[i] == '.')
		i++;
	return s[i] == ':' && uri_chars_valid(s + i + 1);
}

/*
 * Lexical checks cJSON does not make, done before parsing: UTF-8, raw
 * control characters, nesting depth (which also keeps cJSON's recursion
 * shallow) and \u0000, which a NUL-terminated cJSON string would truncate.
 */
static enum prescan
json_prescan(const char *s, size_t len)
{
	bool instr = false;
	int depth = 0;
	size_t i;

	if (!ce_utf8_valid(s, len))
		return PRESCAN_UTF8;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (instr) {
			if (c < 0x20)
				return PRESCAN_SYNTAX;
			if (c == '\\') {
				if (len - i >= 6 && s[i + 1] == 'u' &&
				    memcmp(s + i + 2, "0000", 4) == 0)
					return PRESCAN_NUL_ESCAPE;
				i++;
			} else if (c == '"')
				instr = false;
			continue;
		}
		switch (c) {
		case '"':
			instr = true;
			break;
		case '[':
		case '{':
			if (++depth > CE_MAX_DEPTH)
				return PRESCAN_DEEP;
			break;
		case ']':
		case '}':
			if (--depth < 0)
				return PRESCAN_SYNTAX;
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;
		default:
			if (c < 0x20)
				return PRESCAN_SYNTAX;
			break;
		}
	}
	return instr || depth != 0 ? PRESCAN_SYNTAX : PRESCAN_OK;
}

/* Parse exactly len bytes of JSON (trailing whitespace only); NULL if not. */
static cJSON *
parse_json(const char *s, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	if (s == NULL || len == 0)
		return NULL;
	root = cJSON_ParseWithLengthOpts(s, len, &end, false);
	if (root == NULL)
		return NULL;
	while (end < s + len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != s + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Pre-scan and parse a request body, reporting invalid_json. */
static cJSON *
parse_body(const char *body, size_t len, struct herald_error *err)
{
	cJSON *root;

	if (body == NULL || len == 0) {
		set_error(err, "invalid_json", "", "body is empty");
		return NULL;
	}
	switch (json_prescan(body, len)) {
	case PRESCAN_OK:
		break;
	case PRESCAN_UTF8:
		set_error(err, "invalid_json", "", "body is not valid UTF-8");
		return NULL;
	case PRESCAN_DEEP:
		set_error(err, "invalid_json", "",
			  "body nests deeper than %d levels", CE_MAX_DEPTH);
		return NULL;
	case PRESCAN_NUL_ESCAPE:
		set_error(err, "invalid_json", "",
			  "\\u0000 in a string is not supported");
		return NULL;
	case PRESCAN_SYNTAX:
		set_error(err, "invalid_json", "", "body is not valid JSON");
		return NULL;
	}
	root = parse_json(body, len);
	if (root == NULL)
		set_error(err, "invalid_json", "", "body is not valid JSON");
	return root;
}

/* true when bytes are JSON text herald can keep and render as a value. */
static bool
json_text_ok(const char *s, size_t len)
{
	cJSON *v;

	if (json_prescan(s, len) != PRESCAN_OK)
		return false;
	v = parse_json(s, len);
	if (v == NULL)
		return false;
	cJSON_Delete(v);
	return true;
}

/* true when the member name appears in obj before member m. */
static bool
seen_before(const cJSON *obj, const cJSON *m)
{
	const cJSON *p;

	for (p = obj->child; p != NULL && p != m; p = p->next)
		if (p->string != NULL && strcmp(p->string, m->string) == 0)
			return true;
	return false;
}

/* Copy one attribute value, checking its JSON type; NULL when invalid. */
static cJSON *
copy_attr_value(const cJSON *v, struct herald_error *err)
{
	if (cJSON_IsString(v) || cJSON_IsBool(v))
		return must(cJSON_Duplicate(v, false));
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;

		if (!(d >= INT32_MIN && d <= INT32_MAX) ||
		    (double)(int32_t)d != d) {
			set_error(err, "invalid_attribute", v->string,
				  "attribute \"%s\" must be an integer within "
				  "the signed 32-bit range", v->string);
			return NULL;
		}
		return must(cJSON_CreateNumber((double)(int32_t)d));
	}
	set_error(err, "invalid_attribute", v->string,
		  "attribute \"%s\" must be a string, a boolean or an integer",
		  v->string);
	return NULL;
}

/*
 * Copy the attribute members of a JSON object into a new attrs object
 * (nulls dropped).  With allow_data, data and data_base64 are handed back
 * instead (a null data_base64 counts as absent, a null data is a value);
 * without it they are refused.
 */
static cJSON *
import_attrs(const cJSON *obj, bool allow_data, const cJSON **data,
	     const cJSON **data_b64, struct herald_error *err)
{
	cJSON *attrs;
	const cJSON *m;

	*data = *data_b64 = NULL;
	if (cJSON_GetArraySize(obj) > CE_MAX_MEMBERS) {
		set_error(err, "invalid_attribute", "",
			  "event has more than %d members", CE_MAX_MEMBERS);
		return NULL;
	}
	attrs = must(cJSON_CreateObject());
	cJSON_ArrayForEach(m, obj) {
		const char *name = m->string;
		cJSON *copy;

		if (name == NULL) {
			set_error(err, "invalid_json", "",
				  "member without a name");
			goto err;
		}
		if (seen_before(obj, m)) {
			set_error(err, "invalid_attribute", name,
				  "member \"%s\" appears twice", name);
			goto err;
		}
		if (allow_data && strcmp(name, "data") == 0) {
			*data = m;
			continue;
		}
		if (allow_data && strcmp(name, "data_base64") == 0) {
			if (!cJSON_IsNull(m))
				*data_b64 = m;
			continue;
		}
		if (!ce_attr_name_valid(name) || strcmp(name, "data") == 0) {
			set_error(err, "invalid_attribute_name", name,
				  "attribute name \"%s\" must consist of "
				  "lower-case letters and digits only", name);
			goto err;
		}
		if (cJSON_IsNull(m))
			continue;
		copy = copy_attr_value(m, err);
		if (copy == NULL)
			goto err;
		cJSON_AddItemToObject(attrs, name, copy);
	}
	return attrs;

err:
	cJSON_Delete(attrs);
	return NULL;
}

/* A present string attribute, or NULL; *bad is set when it is present but
 * not a string. */
static const char *
attr_str(const cJSON *attrs, const char *name, bool *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, name);

	*bad = false;
	if (v == NULL)
		return NULL;
	if (!cJSON_IsString(v)) {
		*bad = true;
		return NULL;
	}
	return v->valuestring;
}

/* Check ev->attrs against the CloudEvents rules; point the fields into it. */
static int
validate_context(struct cloudevent *ev, struct herald_error *err)
{
	static const char *const required[] = {"id", "source", "type"};
	static const char *const optional[] = {
		"subject", "datacontenttype", "dataschema", "time",
		"partitionkey"};
	const cJSON *m;
	const char *s;
	bool bad;
	size_t i;

	s = attr_str(ev->attrs, "specversion", &bad);
	if (s == NULL && !bad) {
		set_error(err, "missing_attribute", "specversion",
			  "required attribute \"specversion\" is missing");
		return -1;
	}
	if (bad) {
		set_error(err, "invalid_attribute", "specversion",
			  "attribute \"specversion\" must be a string");
		return -1;
	}
	if (strcmp(s, "1.0") != 0) {
		set_error(err, "unsupported_specversion", "specversion",
			  "specversion must be \"1.0\"");
		return -1;
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		s = attr_str(ev->attrs, required[i], &bad);
		if (s == NULL && !bad) {
			set_error(err, "missing_attribute", required[i],
				  "required attribute \"%s\" is missing",
				  required[i]);
			return -1;
		}
		if (bad || *s == '\0') {
			set_error(err, "invalid_attribute", required[i],
				  "attribute \"%s\" must be a non-empty string",
				  required[i]);
			return -1;
		}
	}
	for (i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		s = attr_str(ev->attrs, optional[i], &bad);
		if (bad || (s != NULL && *s == '\0')) {
			set_error(err, "invalid_attribute", optional[i],
				  "attribute \"%s\" must be a non-empty string",
				  optional[i]);
			return -1;
		}
	}
	cJSON_ArrayForEach(m, ev->attrs) {
		const char *why;

		if (!cJSON_IsString(m))
			continue;
		why = string_problem(m->valuestring);
		if (why != NULL) {
			set_error(err, "invalid_attribute", m->string,
				  "attribute \"%s\" %s", m->string, why);
			return -1;
		}
	}

	ev->specversion = attr_str(ev->attrs, "specversion", &bad);
	ev->id = attr_str(ev->attrs, "id", &bad);
	ev->source = attr_str(ev->attrs, "source", &bad);
	ev->type = attr_str(ev->attrs, "type", &bad);
	ev->subject = attr_str(ev->attrs, "subject", &bad);
	ev->datacontenttype = attr_str(ev->attrs, "datacontenttype", &bad);
	ev->dataschema = attr_str(ev->attrs, "dataschema", &bad);
	ev->time = attr_str(ev->attrs, "time", &bad);
	ev->partitionkey = attr_str(ev->attrs, "partitionkey", &bad);

	if (!uri_chars_valid(ev->source)) {
		set_error(err, "invalid_attribute", "source",
			  "attribute \"source\" must be a URI reference "
			  "without whitespace");
		return -1;
	}
	if (ev->datacontenttype != NULL &&
	    !mediatype_valid(ev->datacontenttype)) {
		set_error(err, "invalid_attribute", "datacontenttype",
			  "attribute \"datacontenttype\" must be a media type "
			  "such as \"application/json\"");
		return -1;
	}
	if (ev->dataschema != NULL && !absolute_uri_valid(ev->dataschema)) {
		set_error(err, "invalid_attribute", "dataschema",
			  "attribute \"dataschema\" must be an absolute URI");
		return -1;
	}
	if (ev->time != NULL && !text_rfc3339_valid(ev->time)) {
		set_error(err, "invalid_attribute", "time",
			  "attribute \"time\" must be an RFC 3339 timestamp "
			  "such as \"2018-04-05T17:31:00Z\"");
		return -1;
	}
	return 0;
}

/*
 * The exact text of a member in a JSON document cJSON has accepted (so it
 * is valid JSON).  A structured event's data is kept as the producer wrote
 * it: cJSON prints numbers with 15 significant digits, which would turn
 * 9007199254740993 into 9007199254740990.
 */
static size_t
skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
			   s[i] == '\r'))
		i++;
	return i;
}

/* The index just past the string whose opening quote is at i.  The text
 * is valid JSON: a quote ends the string unless an odd run of backslashes
 * comes before it.  memchr finds the candidates far faster than a loop
 * over every byte, and strings are most of an event's bytes. */
static size_t
skip_string(const char *s, size_t len, size_t i)
{
	size_t start = i + 1, j = start;

	for (;;) {
		const char *q;
		size_t bs = 0;

		if (j >= len)
			return len;
		q = memchr(s + j, '"', len - j);
		if (q == NULL)
			return len;
		j = (size_t)(q - s);
		while (j - bs > start && s[j - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return j + 1;
		j++;
	}
}

/* The index just past the value that starts at i (len when cut short). */
static size_t
skip_value(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	i = skip_ws(s, len, i);
	do {
		if (i >= len)
			return len;
		switch (s[i]) {
		case '"':
			i = skip_string(s, len, i);
			break;
		case '{':
		case '[':
			depth++;
			i++;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			i++;
			break;
		case ',':
		case ':':
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			i++;
			break;
		default: /* a number or a literal */
			while (i < len && strchr(",:]} \t\r\n", s[i]) == NULL)
				i++;
			break;
		}
	} while (depth > 0);
	return i < len ? i : len;
}

/* true when the quoted key text[0..len) names name. */
static bool
key_is(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);
	cJSON *k;
	bool same;

	if (len < 2)
		return false;
	if (memchr(text, '\\', len) == NULL)
		return len - 2 == n && memcmp(text + 1, name, n) == 0;
	k = cJSON_ParseWithLength(text, len); /* an escaped key */
	same = cJSON_IsString(k) && strcmp(k->valuestring, name) == 0;
	cJSON_Delete(k);
	return same;
}

/* Where the value of member name of the object text[0..len) is. */
static bool
member_span(const char *s, size_t len, const char *name, size_t *off,
	    size_t *vlen)
{
	size_t i = skip_ws(s, len, 0);

	if (i >= len || s[i] != '{')
		return false;
	for (i++;;) {
		size_t key, key_end, value;

		i = skip_ws(s, len, i);
		if (i < len && s[i] == ',')
			i = skip_ws(s, len, i + 1);
		if (i >= len || s[i] != '"')
			return false;
		key = i;
		key_end = skip_value(s, len, i);
		i = skip_ws(s, len, key_end);
		if (i >= len || s[i] != ':')
			return false;
		value = skip_ws(s, len, i + 1);
		i = skip_value(s, len, value);
		if (key_is(s + key, key_end - key, name)) {
			*off = value;
			*vlen = i - value;
			return true;
		}
	}
}

/* Take the payload of a JSON-format event; text[0..len), when given, is
 * the event object's own text, whose data member is kept as written. */
static int
import_data(const cJSON *data, const cJSON *b64, struct cloudevent *ev,
	    const char *text, size_t text_len, struct herald_error *err)
{
	if (data != NULL && b64 != NULL) {
		set_error(err, "invalid_data", "data_base64",
			  "data and data_base64 must not both be present");
		return -1;
	}
	if (b64 != NULL) {
		size_t len, outlen = 0;
		unsigned char *out;

		if (!cJSON_IsString(b64)) {
			set_error(err, "invalid_data", "data_base64",
				  "data_base64 must be a base64 string");
			return -1;
		}
		len = strlen(b64->valuestring);
		out = xmalloc(len / 4 * 3 + 3);
		if (!base64_decode(b64->valuestring, len, out, &outlen)) {
			free(out);
			set_error(err, "invalid_data", "data_base64",
				  "data_base64 is not valid base64");
			return -1;
		}
		ev->data_kind = CE_DATA_BINARY;
		if (outlen == 0) {
			free(out);
			out = NULL;
		}
		ev->data = out;
		ev->data_len = outlen;
		return 0;
	}
	if (data == NULL) {
		ev->data_kind = CE_DATA_NONE;
		return 0;
	}
	if (cJSON_IsString(data) && ev->datacontenttype != NULL &&
	    !mediatype_is_json(ev->datacontenttype)) {
		size_t len = strlen(data->valuestring);

		if (!ce_utf8_valid(data->valuestring, len)) {
			set_error(err, "invalid_data", "data",
				  "data is not valid UTF-8");
			return -1;
		}
		ev->data_kind = CE_DATA_TEXT;
		ev->data = len ? xmemdup(data->valuestring, len) : NULL;
		ev->data_len = len;
	} else {
		size_t off, vlen;

		ev->data_kind = CE_DATA_JSON;
		if (text != NULL &&
		    member_span(text, text_len, "data", &off, &vlen) &&
		    vlen > 0) {
			ev->data = xmemdup(text + off, vlen);
			ev->data_len = vlen;
		} else {
			char *printed = must(cJSON_PrintUnformatted(data));

			ev->data_len = strlen(printed);
			ev->data = xmemdup(printed, ev->data_len);
			cJSON_free(printed);
		}
	}
	return 0;
}

/* An event from its parsed object and, when known, its text (for data
 * exactly as written). */
static int
from_json(const cJSON *obj, const char *text, size_t len,
	  struct cloudevent *ev, struct herald_error *err)
{
	const cJSON *data, *b64;

	memset(ev, 0, sizeof(*ev));
	if (!cJSON_IsObject(obj)) {
		set_error(err, "invalid_json", "",
			  "event must be a JSON object");
		return -1;
	}
	ev->attrs = import_attrs(obj, true, &data, &b64, err);
	if (ev->attrs == NULL)
		return -1;
	if (validate_context(ev, err) != 0 ||
	    import_data(data, b64, ev, text, len, err) != 0) {
		ce_free(ev);
		return -1;
	}
	return 0;
}

int
ce_from_json(const cJSON *obj, struct cloudevent *ev, struct herald_error *err)
{
	return from_json(obj, NULL, 0, ev, err);
}

int
ce_parse_structured(const char *body, size_t len, struct cloudevent *ev,
		    struct herald_error *err)
{
	cJSON *root;
	int rc;

	memset(ev, 0, sizeof(*ev));
	root = parse_body(body, len, err);
	if (root == NULL)
		return -1;
	rc = from_json(root, body, len, ev, err);
	cJSON_Delete(root);
	return rc;
}

int
ce_parse_batch(const char *body, size_t len, struct cloudevent **evs,
	       size_t *n, struct herald_error *err)
{
	struct cloudevent *arr = NULL;
	const cJSON *m;
	cJSON *root;
	size_t count, i = 0, pos;

	*evs = NULL;
	*n = 0;
	root = parse_body(body, len, err);
	if (root == NULL)
		return -1;
	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		set_error(err, "invalid_json", "",
			  "batch must be a JSON array");
		return -1;
	}
	count = (size_t)cJSON_GetArraySize(root);
	if (count > 0)
		arr = xcalloc(count, sizeof(*arr));
	pos = skip_ws(body, len, 0) + 1; /* past '[' */
	cJSON_ArrayForEach(m, root) {
		size_t start, end;

		/* the member's own text, for its exact data */
		pos = skip_ws(body, len, pos);
		if (pos < len && body[pos] == ',')
			pos = skip_ws(body, len, pos + 1);
		start = pos;
		end = skip_value(body, len, start);
		pos = end;
		if (from_json(m, body + start, end - start, &arr[i], err) != 0) {
			if (err != NULL)
				err->index = (long)i;
			ce_free_array(arr, i);
			cJSON_Delete(root);
			return -1;
		}
		i++;
	}
	cJSON_Delete(root);
	*evs = arr;
	*n = i;
	return 0;
}

int
ce_parse_binary(const struct ce_header *headers, size_t nheaders,
		const char *content_type, const char *body, size_t len,
		struct cloudevent *ev, struct herald_error *err)
{
	size_t i, count = 0;

	memset(ev, 0, sizeof(*ev));
	ev->attrs = must(cJSON_CreateObject());
	for (i = 0; i < nheaders; i++) {
		const char *hname = headers[i].name;
		const char *value = headers[i].value ? headers[i].value : "";
		char *name, *p, *dec;
		size_t vlen;

		if (hname == NULL || strncasecmp(hname, "ce-", 3) != 0)
			continue;
		name = xstrdup(hname + 3);
		for (p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (!ce_attr_name_valid(name) || strcmp(name, "data") == 0) {
			set_error(err, "invalid_attribute_name", name,
				  "header \"%s\" does not name a valid "
				  "attribute", hname);
			free(name);
			goto err;
		}
		if (strcmp(name, "datacontenttype") == 0) {
			set_error(err, "invalid_attribute", name,
				  "datacontenttype is sent as content-type "
				  "in binary mode");
			free(name);
			goto err;
		}
		if (cJSON_GetObjectItemCaseSensitive(ev->attrs, name) != NULL) {
			set_error(err, "invalid_attribute", name,
				  "attribute \"%s\" is sent twice", name);
			free(name);
			goto err;
		}
		if (++count > CE_MAX_MEMBERS) {
			set_error(err, "invalid_attribute", "",
				  "event has more than %d attributes",
				  CE_MAX_MEMBERS);
			free(name);
			goto err;
		}
		/* optional whitespace around a field value is not part of it
		 * (RFC 9110 5.5); a space that belongs to the value comes
		 * percent-encoded */
		while (*value == ' ' || *value == '\t')
			value++;
		vlen = strlen(value);
		while (vlen > 0 &&
		       (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
			vlen--;
		dec = ce_percent_decode(value, vlen);
		if (dec == NULL) {
			set_error(err, "invalid_attribute", name,
				  "attribute \"%s\" is not valid "
				  "percent-encoded UTF-8", name);
			free(name);
			goto err;
		}
		cJSON_AddItemToObject(ev->attrs, name,
				      must(cJSON_CreateString(dec)));
		free(dec);
		free(name);
	}
	if (content_type != NULL)
		cJSON_AddItemToObject(ev->attrs, "datacontenttype",
				      must(cJSON_CreateString(content_type)));
	if (validate_context(ev, err) != 0)
		goto err;

	if (len == 0 || body == NULL) {
		ev->data_kind = CE_DATA_NONE;
		return 0;
	}
	if (ev->datacontenttype != NULL && mediatype_is_json(ev->datacontenttype) &&
	    json_text_ok(body, len))
		ev->data_kind = CE_DATA_JSON;
	else if (ev->datacontenttype != NULL &&
		 mediatype_is_text(ev->datacontenttype) &&
		 !mediatype_is_json(ev->datacontenttype) &&
		 ce_utf8_valid(body, len) && memchr(body, '\0', len) == NULL)
		/* text/json that is not JSON stays opaque: as a JSON string it
		 * would mean something else */
		ev->data_kind = CE_DATA_TEXT;
	else
		ev->data_kind = CE_DATA_BINARY;
	ev->data = xmemdup(body, len);
	ev->data_len = len;
	return 0;

err:
	ce_free(ev);
	return -1;
}

int
ce_from_stored(const char *attrs_json, const unsigned char *data,
	       size_t data_len, enum ce_data_kind kind, struct cloudevent *ev)
{
	struct herald_error err;
	const cJSON *d, *b;
	cJSON *root;
	bool ok;

	memset(ev, 0, sizeof(*ev));
	if (attrs_json == NULL || (data == NULL && data_len > 0))
		return -1;
	root = parse_json(attrs_json, strlen(attrs_json));
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -1;
	}
	ev->attrs = import_attrs(root, false, &d, &b, &err);
	cJSON_Delete(root);
	if (ev->attrs == NULL)
		return -1;
	switch (kind) {
	case CE_DATA_NONE:
		ok = data_len == 0;
		break;
	case CE_DATA_JSON:
		/* parsed in full when it was accepted; read back for every
		 * delivery, a structural check catches a damaged row at a
		 * fraction of the cost */
		ok = data_len > 0 &&
		     json_prescan((const char *)data, data_len) == PRESCAN_OK;
		break;
	case CE_DATA_TEXT:
		ok = ce_utf8_valid((const char *)data, data_len) &&
		     (data_len == 0 || memchr(data, '\0', data_len) == NULL);
		break;
	case CE_DATA_BINARY:
		ok = true;
		break;
	default:
		ok = false;
		break;
	}
	if (!ok || validate_context(ev, &err) != 0) {
		ce_free(ev);
		return -1;
	}
	ev->data_kind = kind;
	ev->data = data_len ? xmemdup(data, data_len) : NULL;
	ev->data_len = data_len;
	return 0;
}

/* The event as a cJSON object; JSON data parsed (exact false) or kept as
 * its stored text, printed verbatim (exact true). */
static cJSON *
render(const struct cloudevent *ev, bool exact)
{
	cJSON *o, *v;
	char *s;

	if (ev->attrs != NULL)
		o = must(cJSON_Duplicate(ev->attrs, true));
	else
		o = must(cJSON_CreateObject());
	switch (ev->data_kind) {
	case CE_DATA_NONE:
		break;
	case CE_DATA_JSON:
		v = parse_json((const char *)ev->data, ev->data_len);
		if (v == NULL) {
			cJSON_Delete(o);
			return NULL;
		}
		if (exact) {
			cJSON_Delete(v);
			s = xmalloc(ev->data_len + 1);
			memcpy(s, ev->data, ev->data_len);
			s[ev->data_len] = '\0';
			v = must(cJSON_CreateRaw(s));
			free(s);
		}
		cJSON_AddItemToObject(o, "data", v);
		break;
	case CE_DATA_TEXT:
		s = xmalloc(ev->data_len + 1);
		if (ev->data_len)
			memcpy(s, ev->data, ev->data_len);
		s[ev->data_len] = '\0';
		cJSON_AddItemToObject(o, "data", must(cJSON_CreateString(s)));
		free(s);
		break;
	case CE_DATA_BINARY:
		s = xmalloc(base64_encoded_len(ev->data_len) + 1);
		base64_encode(ev->data, ev->data_len, s);
		cJSON_AddItemToObject(o, "data_base64",
				      must(cJSON_CreateString(s)));
		free(s);
		break;
	}
	return o;
}

cJSON *
ce_to_json(const struct cloudevent *ev)
{
	return render(ev, false);
}

char *
ce_to_text(const struct cloudevent *ev)
{
	cJSON *o = render(ev, true);
	char *text, *copy;

	if (o == NULL)
		return NULL;
	text = must(cJSON_PrintUnformatted(o));
	cJSON_Delete(o);
	copy = xstrdup(text);
	cJSON_free(text);
	return copy;
}

const char *
ce_attr_string(const struct cloudevent *ev, const char *name, char *buf,
	       size_t buflen)
{
	const cJSON *v;
	int n;

	if (ev == NULL || ev->attrs == NULL || name == NULL)
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(ev->attrs, name);
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsTrue(v))
		return "true";
	if (cJSON_IsFalse(v))
		return "false";
	if (!cJSON_IsNumber(v) || buf == NULL ||
	    !(v->valuedouble >= INT32_MIN && v->valuedouble <= INT32_MAX))
		return NULL;
	n = snprintf(buf, buflen, "%ld", (long)v->valuedouble);
	if (n < 0 || (size_t)n >= buflen)
		return NULL;
	return buf;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
ce_percent_decode(const char *in, size_t len)
{
	size_t i, o = 0;
	char *out;

	if (in == NULL && len > 0)
		return NULL;
	out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3 || (hi = hex_value(in[i + 1])) < 0 ||
			    (lo = hex_value(in[i + 2])) < 0)
				goto fail;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			goto fail;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (!ce_utf8_valid(out, o))
		goto fail;
	return out;

fail:
	free(out);
	return NULL;
}

char *
ce_percent_encode(const char *in)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n, i, o = 0;
	char *out;

	if (in == NULL)
		return NULL;
	n = strlen(in);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	out = xmalloc(n * 3 + 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x21 || c > 0x7e || c == '"' || c == '%') {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0x0f];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

void
ce_free(struct cloudevent *ev)
{
	if (ev == NULL)
		return;
	cJSON_Delete(ev->attrs);
	free(ev->data);
	memset(ev, 0, sizeof(*ev));
}

void
ce_free_array(struct cloudevent *evs, size_t n)
{
	size_t i;

	if (evs == NULL)
		return;
	for (i = 0; i < n; i++)
		ce_free(&evs[i]);
	free(evs);
}
