/* Conformance: every case of the CESQL TCK (YAML files under $HERALD_TESTDATA/conformance/cesql-tck). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cesql.h"
#include "cloudevent.h"

/* automake's exit status for a skipped test */
#define EXIT_SKIP 77

#define TCK_DIR "conformance/cesql-tck"
#define MAX_FILES 64
#define MAX_CASES 1024
#define MAX_LINE 4096

/*
 * The TCK's files are a small, regular subset of YAML, which this reads
 * without a YAML library:
 *
 *   name: <suite>
 *   tests:
 *     - name: <case>
 *       expression: <scalar>
 *       result: <scalar>
 *       error: <scalar>
 *       event:            (or eventOverrides:)
 *         <attribute>: <scalar>
 *
 * Scalars are plain (true/false in any of YAML's three spellings and
 * integers are typed, anything else is a string), 'single-quoted' ('' is
 * a quote) or "double-quoted" (backslash escapes).  Anything else in a
 * file is refused, so a TCK that outgrows this reader fails loudly instead
 * of losing cases.
 */

struct tck_case {
	char where[160]; /* file: case name */
	char *expression;
	cJSON *result;   /* NULL when not given */
	char *error;     /* NULL when no error is expected */
	cJSON *event;    /* a whole event, or NULL */
	cJSON *overrides;
};

static struct tck_case cases[MAX_CASES];
static int ncases;

/* The base event when a case gives none. */
static const char *const base_event =
	"{\"specversion\":\"1.0\",\"id\":\"tck-id\",\"source\":\"/tck\","
	"\"type\":\"tck.type\"}";

static bool
plain_is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* One scalar: text up to the end of the line. NULL when malformed. */
static cJSON *
scalar(const char *s)
{
	char buf[MAX_LINE];
	size_t n = 0, len;

	while (*s == ' ')
		s++;
	if (*s == '"' || *s == '\'') {
		char q = *s++;

		for (;; s++) {
			if (*s == '\0' || n + 1 >= sizeof(buf))
				return NULL;
			if (q == '\'' && *s == '\'' && s[1] == '\'') {
				buf[n++] = '\'';
				s++;
			} else if (*s == q) {
				break;
			} else if (q == '"' && *s == '\\') {
				s++;
				switch (*s) {
				case 'n': buf[n++] = '\n'; break;
				case 't': buf[n++] = '\t'; break;
				case '\\': case '"': case '/': buf[n++] = *s; break;
				default: return NULL;
				}
			} else {
				buf[n++] = *s;
			}
		}
		for (s++; *s == ' '; s++)
			;
		if (*s != '\0')
			return NULL;
		buf[n] = '\0';
		return cJSON_CreateString(buf);
	}
	len = strlen(s);
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "true") == 0 || strcmp(buf, "True") == 0 ||
	    strcmp(buf, "TRUE") == 0)
		return cJSON_CreateTrue();
	if (strcmp(buf, "false") == 0 || strcmp(buf, "False") == 0 ||
	    strcmp(buf, "FALSE") == 0)
		return cJSON_CreateFalse();
	if (plain_is_int(buf))
		return cJSON_CreateNumber(strtod(buf, NULL));
	return cJSON_CreateString(buf);
}

static void
strip_newline(char *line)
{
	size_t len = strlen(line);

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
}

static bool
blank(const char *line)
{
	for (; *line; line++)
		if (*line != ' ')
			return *line == '#';
	return true;
}

/* Split "key: value" at its indentation; value may be empty. */
static bool
key_value(char *line, int *indent, char **key, char **value)
{
	char *colon;

	*indent = 0;
	while (line[*indent] == ' ')
		(*indent)++;
	*key = line + *indent;
	colon = strstr(*key, ":");
	if (colon == NULL || (colon[1] != ' ' && colon[1] != '\0'))
		return false;
	*colon = '\0';
	*value = colon + 1;
	while (**value == ' ')
		(*value)++;
	return true;
}

static bool
load_file(const char *dir, const char *file)
{
	char path[8192], line[MAX_LINE];
	struct tck_case *c = NULL;
	cJSON **map = NULL; /* the event map being filled */
	int lineno = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cannot read %s\n", path);
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		int indent;
		char *key, *value;
		cJSON *v;

		lineno++;
		strip_newline(line);
		if (blank(line))
			continue;
		if (!key_value(line, &indent, &key, &value))
			goto bad;
		if (indent == 0) {
			if (strcmp(key, "name") != 0 && strcmp(key, "tests") != 0)
				goto bad;
			continue;
		}
		if (indent == 2 && strncmp(key, "- ", 2) == 0) {
			if (ncases == MAX_CASES)
				goto bad;
			c = &cases[ncases++];
			key += 2;
			indent = 4;
		}
		if (c == NULL)
			goto bad;
		if (indent == 4) {
			map = NULL;
			if (strcmp(key, "name") == 0) {
				snprintf(c->where, sizeof(c->where), "%.60s: %.90s",
					 file, value);
				continue;
			}
			if (strcmp(key, "event") == 0 ||
			    strcmp(key, "eventOverrides") == 0) {
				if (*value != '\0')
					goto bad;
				map = key[5] == '\0' ? &c->event : &c->overrides;
				*map = cJSON_CreateObject();
				continue;
			}
			if ((v = scalar(value)) == NULL)
				goto bad;
			if (strcmp(key, "expression") == 0 && cJSON_IsString(v)) {
				c->expression = strdup(v->valuestring);
			} else if (strcmp(key, "expression") == 0) {
				/* a plain TRUE or 1 is the expression's text */
				c->expression = strdup(value);
			} else if (strcmp(key, "result") == 0) {
				c->result = v;
				continue;
			} else if (strcmp(key, "error") == 0 && cJSON_IsString(v)) {
				c->error = strdup(v->valuestring);
			} else {
				cJSON_Delete(v);
				goto bad;
			}
			cJSON_Delete(v);
			continue;
		}
		if (indent == 6 && map != NULL) {
			if ((v = scalar(value)) == NULL)
				goto bad;
			cJSON_AddItemToObject(*map, key, v);
			continue;
		}
		goto bad;
	}
	fclose(f);
	return true;

bad:
	fprintf(stderr, "%s:%d: not understood\n", path, lineno);
	fclose(f);
	return false;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
load_tck(const char *testdata)
{
	char dir[4096], *names[MAX_FILES];
	struct dirent *d;
	int n = 0, i;
	bool ok = true;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/%s", testdata, TCK_DIR);
	dp = opendir(dir);
	if (dp == NULL) {
		fprintf(stderr, "cannot open %s\n", dir);
		return false;
	}
	while ((d = readdir(dp)) != NULL) {
		size_t len = strlen(d->d_name);

		if (len > 5 && strcmp(d->d_name + len - 5, ".yaml") == 0 &&
		    n < MAX_FILES)
			names[n++] = strdup(d->d_name);
	}
	closedir(dp);
	qsort(names, (size_t)n, sizeof(names[0]), compare_names);
	for (i = 0; i < n; i++) {
		if (ok && !load_file(dir, names[i]))
			ok = false;
		free(names[i]);
	}
	for (i = 0; ok && i < ncases; i++)
		if (cases[i].expression == NULL) {
			fprintf(stderr, "%s: no expression\n", cases[i].where);
			ok = false;
		}
	return ok && n > 0 && ncases > 0;
}

static cJSON *
case_event(const struct tck_case *c)
{
	cJSON *ev, *m;

	if (c->event != NULL)
		return cJSON_Duplicate(c->event, true);
	ev = cJSON_Parse(base_event);
	if (c->overrides != NULL)
		cJSON_ArrayForEach(m, c->overrides) {
			cJSON_DeleteItemFromObjectCaseSensitive(ev, m->string);
			cJSON_AddItemToObject(ev, m->string,
					      cJSON_Duplicate(m, true));
		}
	return ev;
}

static void
assert_result(const struct tck_case *c, const struct cesql_value *v)
{
	const cJSON *want = c->result;

	if (want == NULL)
		return;
	if (cJSON_IsBool(want)) {
		ck_assert_msg(v->type == CESQL_BOOLEAN, "%s: not a boolean",
			      c->where);
		ck_assert_msg(v->b == cJSON_IsTrue(want), "%s: got %s", c->where,
			      v->b ? "true" : "false");
	} else if (cJSON_IsNumber(want)) {
		ck_assert_msg(v->type == CESQL_INTEGER, "%s: not an integer",
			      c->where);
		ck_assert_msg(v->i == (int32_t)want->valuedouble, "%s: got %ld",
			      c->where, (long)v->i);
	} else {
		ck_assert_msg(v->type == CESQL_STRING, "%s: not a string",
			      c->where);
		ck_assert_msg(strcmp(v->s, want->valuestring) == 0,
			      "%s: got \"%s\"", c->where, v->s);
	}
}

START_TEST(test_tck_case)
{
	const struct tck_case *c = &cases[_i];
	struct cloudevent ev;
	struct herald_error err;
	struct cesql_value v;
	struct cesql *expr;
	enum cesql_error e;
	char msg[160];
	size_t column = 0;
	cJSON *json;

	expr = cesql_compile(c->expression, strlen(c->expression), &column,
			     msg, sizeof(msg));
	if (c->error != NULL && strcmp(c->error, "parse") == 0) {
		ck_assert_msg(expr == NULL, "%s: parsed", c->where);
		ck_assert_msg(column >= 1 && msg[0] != '\0',
			      "%s: no position or message", c->where);
		return;
	}
	ck_assert_msg(expr != NULL, "%s: parse error at %zu: %s", c->where,
		      column, msg);
	json = case_event(c);
	ck_assert_msg(ce_from_json(json, &ev, &err) == 0,
		      "%s: event refused: %s", c->where, err.message);
	e = cesql_eval(expr, &ev, &v);
	ck_assert_msg(strcmp(cesql_error_name(e),
			     c->error != NULL ? c->error : "none") == 0,
		      "%s: error %s, expected %s", c->where, cesql_error_name(e),
		      c->error != NULL ? c->error : "none");
	assert_result(c, &v);
	cesql_value_clear(&v);
	ce_free(&ev);
	cJSON_Delete(json);
	cesql_free(expr);
}
END_TEST

static void
free_cases(void)
{
	int i;

	for (i = 0; i < ncases; i++) {
		free(cases[i].expression);
		free(cases[i].error);
		cJSON_Delete(cases[i].result);
		cJSON_Delete(cases[i].event);
		cJSON_Delete(cases[i].overrides);
	}
}

int
main(void)
{
	const char *dir = getenv("HERALD_TESTDATA");
	struct stat st;
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed, ran;

	if (dir == NULL || *dir == '\0' || stat(dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		printf("skipped: the CESQL TCK was not found (HERALD_TESTDATA)\n");
		return EXIT_SKIP;
	}
	if (!load_tck(dir)) {
		free_cases();
		return EXIT_FAILURE;
	}
	s = suite_create("CESQL TCK");
	tc = tcase_create("tck");
	tcase_add_loop_test(tc, test_tck_case, 0, ncases);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	ran = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free_cases();
	printf("%d CESQL TCK cases ran, %d failed\n", ran, failed);
	return failed == 0 && ran == ncases ? EXIT_SUCCESS : EXIT_FAILURE;
}
