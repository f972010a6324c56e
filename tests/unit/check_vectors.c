/* Conformance: the CloudEvents JSON-format vectors under $HERALD_TESTDATA. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloudevent.h"

/* automake's exit status for a skipped test */
#define EXIT_SKIP 77

/* Largest vector file read. */
#define MAX_FILE_BYTES (4 * 1024 * 1024)

enum vector_file {
	VALID_EVENTS = 0,
	INVALID_EVENTS,
	VALID_BATCHES,
	INVALID_BATCHES,
	NFILES,
};

static const char *const file_names[NFILES] = {
	"cloudevents-format/valid-events.json",
	"cloudevents-format/invalid-events.json",
	"cloudevents-format/valid-batches.json",
	"cloudevents-format/invalid-batches.json",
};

/* Each file's root and its "tests" array, loaded once before the run. */
static cJSON *roots[NFILES];
static const cJSON *tests[NFILES];

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(MAX_FILE_BYTES);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, MAX_FILE_BYTES, f);
	if (ferror(f) || n == MAX_FILE_BYTES) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static bool
load_vectors(const char *dir)
{
	int i;

	for (i = 0; i < NFILES; i++) {
		char path[4096];
		size_t len = 0;
		char *text;

		if (snprintf(path, sizeof(path), "%s/%s", dir, file_names[i]) >=
		    (int)sizeof(path)) {
			fprintf(stderr, "path too long: %s\n", dir);
			return false;
		}
		text = read_file(path, &len);
		if (text == NULL) {
			fprintf(stderr, "cannot read %s\n", path);
			return false;
		}
		roots[i] = cJSON_ParseWithLength(text, len);
		free(text);
		tests[i] = cJSON_GetObjectItemCaseSensitive(roots[i], "tests");
		if (!cJSON_IsArray(tests[i])) {
			fprintf(stderr, "%s: no \"tests\" array\n", path);
			return false;
		}
	}
	return true;
}

static const char *
case_id(const cJSON *c)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");

	return cJSON_IsString(id) ? id->valuestring : "(unnamed)";
}

/* What ce_to_json must give back: the input with null attributes dropped,
 * since the JSON format reads a null attribute as absent. */
static cJSON *
expected_event(const cJSON *event)
{
	cJSON *o = cJSON_Duplicate(event, true);
	cJSON *m, *next;

	ck_assert_ptr_nonnull(o);
	for (m = o->child; m != NULL; m = next) {
		next = m->next;
		if (cJSON_IsNull(m) && strcmp(m->string, "data") != 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(o, m));
	}
	return o;
}

static void
assert_roundtrip(const struct cloudevent *ev, const cJSON *input,
		 const char *id)
{
	cJSON *got = ce_to_json(ev);
	cJSON *want = expected_event(input);

	ck_assert_msg(got != NULL, "%s: not rendered", id);
	ck_assert_msg(cJSON_Compare(got, want, true),
		      "%s: round trip differs", id);
	cJSON_Delete(got);
	cJSON_Delete(want);
}

START_TEST(test_valid_event)
{
	const cJSON *c = cJSON_GetArrayItem(tests[VALID_EVENTS], _i);
	const cJSON *event = cJSON_GetObjectItemCaseSensitive(c, "event");
	struct cloudevent ev;
	struct herald_error err;
	char *body;
	int rc;

	ck_assert_ptr_nonnull(event);
	body = cJSON_PrintUnformatted(event);
	rc = ce_parse_structured(body, strlen(body), &ev, &err);
	ck_assert_msg(rc == 0, "%s: refused: %s %s: %s", case_id(c), err.code,
		      err.field, err.message);
	assert_roundtrip(&ev, event, case_id(c));
	ce_free(&ev);
	cJSON_free(body);
}
END_TEST

START_TEST(test_invalid_event)
{
	const cJSON *c = cJSON_GetArrayItem(tests[INVALID_EVENTS], _i);
	const cJSON *event = cJSON_GetObjectItemCaseSensitive(c, "event");
	struct cloudevent ev;
	struct herald_error err;
	char *body;
	int rc;

	ck_assert_ptr_nonnull(event);
	body = cJSON_PrintUnformatted(event);
	memset(&err, 0, sizeof(err));
	rc = ce_parse_structured(body, strlen(body), &ev, &err);
	ck_assert_msg(rc == -1, "%s: accepted", case_id(c));
	ck_assert_msg(err.code[0] != '\0' && err.message[0] != '\0',
		      "%s: no error reported", case_id(c));
	ck_assert_ptr_null(ev.attrs);
	cJSON_free(body);
}
END_TEST

START_TEST(test_valid_batch)
{
	const cJSON *c = cJSON_GetArrayItem(tests[VALID_BATCHES], _i);
	const cJSON *batch = cJSON_GetObjectItemCaseSensitive(c, "batch");
	struct cloudevent *evs = NULL;
	struct herald_error err;
	size_t n = 0, i;
	char *body;
	int rc;

	ck_assert(cJSON_IsArray(batch));
	body = cJSON_PrintUnformatted(batch);
	rc = ce_parse_batch(body, strlen(body), &evs, &n, &err);
	ck_assert_msg(rc == 0, "%s: refused at %ld: %s %s: %s", case_id(c),
		      err.index, err.code, err.field, err.message);
	ck_assert_uint_eq(n, (size_t)cJSON_GetArraySize(batch));
	for (i = 0; i < n; i++)
		assert_roundtrip(&evs[i], cJSON_GetArrayItem(batch, (int)i),
				 case_id(c));
	ce_free_array(evs, n);
	cJSON_free(body);
}
END_TEST

START_TEST(test_invalid_batch)
{
	const cJSON *c = cJSON_GetArrayItem(tests[INVALID_BATCHES], _i);
	const cJSON *batch = cJSON_GetObjectItemCaseSensitive(c, "batch");
	struct cloudevent *evs = NULL;
	struct herald_error err;
	size_t n = 0;
	char *body;
	int rc;

	ck_assert(cJSON_IsArray(batch));
	body = cJSON_PrintUnformatted(batch);
	memset(&err, 0, sizeof(err));
	rc = ce_parse_batch(body, strlen(body), &evs, &n, &err);
	ck_assert_msg(rc == -1, "%s: accepted", case_id(c));
	ck_assert_ptr_null(evs);
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(err.index >= 0 && err.index < cJSON_GetArraySize(batch),
		      "%s: index %ld", case_id(c), err.index);
	cJSON_free(body);
}
END_TEST

static Suite *
vectors_suite(void)
{
	Suite *s = suite_create("cloudevents-format vectors");
	TCase *tc = tcase_create("vectors");

	tcase_add_loop_test(tc, test_valid_event, 0,
			    cJSON_GetArraySize(tests[VALID_EVENTS]));
	tcase_add_loop_test(tc, test_invalid_event, 0,
			    cJSON_GetArraySize(tests[INVALID_EVENTS]));
	tcase_add_loop_test(tc, test_valid_batch, 0,
			    cJSON_GetArraySize(tests[VALID_BATCHES]));
	tcase_add_loop_test(tc, test_invalid_batch, 0,
			    cJSON_GetArraySize(tests[INVALID_BATCHES]));
	suite_add_tcase(s, tc);
	return s;
}

static void
free_vectors(void)
{
	int i;

	for (i = 0; i < NFILES; i++)
		cJSON_Delete(roots[i]);
}

int
main(void)
{
	const char *dir = getenv("HERALD_TESTDATA");
	struct stat st;
	SRunner *sr;
	int failed, ran;

	if (dir == NULL || *dir == '\0' || stat(dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		printf("skipped: shared conformance vectors not found\n");
		return EXIT_SKIP;
	}
	if (!load_vectors(dir)) {
		free_vectors();
		return EXIT_FAILURE;
	}
	sr = srunner_create(vectors_suite());
	srunner_run_all(sr, CK_NORMAL);
	ran = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free_vectors();
	printf("%d conformance cases ran, %d failed\n", ran, failed);
	return failed == 0 && ran > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
