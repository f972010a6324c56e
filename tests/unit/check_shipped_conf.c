/* Unit test: etc/herald.conf holds every key, each at its default. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_text.h"

#define ERRLEN 512

/* Exit status by which automake's test driver reports a skip. */
#define EXIT_SKIP 77

/* Does the text have a line "key =" or "# key =" (possibly indented)? */
static bool
mentions_key(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *p = line;

		while (*p == ' ' || *p == '\t' || *p == '#')
			p++;
		if (strncmp(p, key, klen) == 0 &&
		    (p[klen] == ' ' || p[klen] == '=' || p[klen] == '\t'))
			return true;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return false;
}

START_TEST(test_shipped_conf)
{
	const char *srcdir = getenv("HERALD_SRCDIR");
	const char *const *names = config_key_names();
	char path[1024], err[ERRLEN] = "", a[256], b[256];
	char text[65536];
	struct config c, d;
	size_t n;
	FILE *f;

	ck_assert_ptr_nonnull(srcdir);
	snprintf(path, sizeof(path), "%s/etc/herald.conf", srcdir);
	config_defaults(&c);
	ck_assert_msg(config_load_file(&c, path, err, sizeof(err)) == 0, "%s", err);
	config_defaults(&d);
	for (size_t i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], "database_url") == 0)
			continue;
		ck_assert(config_field_text(&c, names[i], a, sizeof(a)));
		ck_assert(config_field_text(&d, names[i], b, sizeof(b)));
		ck_assert_msg(strcmp(a, b) == 0, "%s: %s, default %s", names[i],
			      a, b);
	}
	config_free(&c);
	config_free(&d);

	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	ck_assert_uint_lt(n, sizeof(text) - 1);
	text[n] = '\0';
	for (size_t i = 0; names[i] != NULL; i++)
		ck_assert_msg(mentions_key(text, names[i]),
			      "etc/herald.conf lacks %s", names[i]);
}
END_TEST

int
main(void)
{
	const char *srcdir = getenv("HERALD_SRCDIR");
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (srcdir == NULL || srcdir[0] == '\0') {
		printf("skipped: HERALD_SRCDIR unset, etc/herald.conf not found\n");
		return EXIT_SKIP;
	}
	s = suite_create("shipped_conf");
	tc = tcase_create("shipped_conf");
	tcase_add_test(tc, test_shipped_conf);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
