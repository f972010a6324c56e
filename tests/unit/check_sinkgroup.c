/* Unit tests for consumer groups (sinkgroup.c): the member a key goes to, how few keys move when the members change, least work in flight, and members leaving and rejoining the rotation. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinkgroup.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define NKEYS 20000

static const char *const urls[] = {
	"http://worker-a/hook", "http://worker-b/hook", "http://worker-c/hook",
	"http://worker-d/hook", "http://worker-e/hook", "http://worker-f/hook",
	"https://10.0.0.7:8443/x", "http://worker-h/hook",
};

static const char *
key_of(int i)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "customer-%d", i);
	return buf;
}

/* The weights are shared between instances and versions: fixed here. */
static const struct {
	const char *member, *key;
	uint64_t weight;
} weights[] = {
	{"http://worker-a/hook", "customer-7", 17647721342807480973ULL},
	{"http://worker-b/hook", "customer-7", 16648572337377888655ULL},
	{"http://worker-a/hook", "", 7388692960257655517ULL},
	{"", "", 13646438867108228155ULL},
};

START_TEST(test_weight_fixed)
{
	ck_assert_uint_eq(sinkgroup_weight(weights[_i].member, weights[_i].key),
			  weights[_i].weight);
}
END_TEST

/* Each member of n takes about 1/n of the keys. */
static const int balance_n[] = {1, 2, 3, 4, 8};

START_TEST(test_balance)
{
	int n = balance_n[_i], count[8] = {0};
	bool in[8];

	for (int m = 0; m < n; m++)
		in[m] = true;
	for (int k = 0; k < NKEYS; k++) {
		int got = sinkgroup_for_key(urls, in, (size_t)n, key_of(k));

		ck_assert_int_ge(got, 0);
		ck_assert_int_lt(got, n);
		count[got]++;
	}
	for (int m = 0; m < n; m++) {
		ck_assert_int_ge(count[m], NKEYS / n * 9 / 10);
		ck_assert_int_le(count[m], NKEYS / n * 11 / 10);
	}
}
END_TEST

/* The member list's order does not matter: the same URL is chosen. */
START_TEST(test_order_free)
{
	const char *rev[4] = {urls[3], urls[2], urls[1], urls[0]};
	bool in[4] = {true, true, true, true};

	for (int k = 0; k < NKEYS; k++) {
		int a = sinkgroup_for_key(urls, in, 4, key_of(k));
		int b = sinkgroup_for_key(rev, in, 4, key_of(k));

		ck_assert_str_eq(urls[a], rev[b]);
	}
}
END_TEST

/*
 * Membership changes, as tables: from the first n members to another
 * set (given by their indexes in urls).  Only the keys that must move
 * move: on adding, only to the new member (about 1/new of them); on
 * removing, only the removed member's keys (about 1/old of them).
 */
static const struct {
	const char *name;
	int from[8], nfrom;
	int to[8], nto;
	double share; /* of the keys that move */
} changes[] = {
	{"add a 5th", {0, 1, 2, 3}, 4, {0, 1, 2, 3, 4}, 5, 1.0 / 5},
	{"add a 2nd", {0}, 1, {0, 1}, 2, 1.0 / 2},
	{"add a 8th", {0, 1, 2, 3, 4, 5, 6}, 7, {0, 1, 2, 3, 4, 5, 6, 7}, 8, 1.0 / 8},
	{"remove the 3rd of 3", {0, 1, 2}, 3, {0, 1}, 2, 1.0 / 3},
	{"remove the 1st of 4", {0, 1, 2, 3}, 4, {1, 2, 3}, 3, 1.0 / 4},
	{"remove one of 8", {0, 1, 2, 3, 4, 5, 6, 7}, 8, {0, 1, 2, 4, 5, 6, 7}, 7, 1.0 / 8},
	/* the removed member's third, and the new member's third of the
	 * rest but those two have in common (a sixth) */
	{"replace one of 3", {0, 1, 2}, 3, {0, 1, 5}, 3, 1.0 / 2},
	{"the same members", {0, 1, 2}, 3, {2, 0, 1}, 3, 0},
};

START_TEST(test_change_moves_few)
{
	const char *from[8], *to[8];
	bool in[8] = {true, true, true, true, true, true, true, true};
	int moved = 0, nf = changes[_i].nfrom, nt = changes[_i].nto;
	double share, want = changes[_i].share;

	for (int i = 0; i < nf; i++)
		from[i] = urls[changes[_i].from[i]];
	for (int i = 0; i < nt; i++)
		to[i] = urls[changes[_i].to[i]];
	for (int k = 0; k < NKEYS; k++) {
		const char *a = from[sinkgroup_for_key(from, in, (size_t)nf, key_of(k))];
		const char *b = to[sinkgroup_for_key(to, in, (size_t)nt, key_of(k))];
		bool a_stays = false, b_new = true;

		if (strcmp(a, b) == 0)
			continue;
		moved++;
		/* a key moves only off a removed member or onto an added one */
		for (int i = 0; i < nt; i++)
			a_stays |= strcmp(to[i], a) == 0;
		for (int i = 0; i < nf; i++)
			b_new &= strcmp(from[i], b) != 0;
		ck_assert_msg(!a_stays || b_new, "%s: key %d moved from %s to %s",
			      changes[_i].name, k, a, b);
	}
	share = (double)moved / NKEYS;
	ck_assert_msg(share >= want * 0.85 && share <= want * 1.15,
		      "%s: %.3f of the keys moved, about %.3f expected",
		      changes[_i].name, share, want);
}
END_TEST

/* A member out of rotation: its keys go to the others, the others' keys
 * stay; back in rotation, each key is home again.  With none in
 * rotation, the choice is among all. */
START_TEST(test_out_of_rotation)
{
	bool all[4] = {true, true, true, true}, one_out[4] = {true, false, true, true};
	bool none[4] = {false, false, false, false};

	for (int k = 0; k < NKEYS; k++) {
		int home = sinkgroup_for_key(urls, all, 4, key_of(k));
		int moved = sinkgroup_for_key(urls, one_out, 4, key_of(k));

		if (home == 1)
			ck_assert_int_ne(moved, 1);
		else
			ck_assert_int_eq(moved, home);
		ck_assert_int_eq(sinkgroup_for_key(urls, none, 4, key_of(k)), home);
	}
	ck_assert_int_eq(sinkgroup_for_key(urls, all, 0, "k"), -1);
}
END_TEST

/* Least work in flight: ties go to the first from start. */
static const struct {
	int in_flight[4];
	bool eligible[4];
	size_t start;
	int want;
} least[] = {
	{{0, 0, 0, 0}, {true, true, true, true}, 0, 0},
	{{0, 0, 0, 0}, {true, true, true, true}, 2, 2},
	{{0, 0, 0, 0}, {true, true, true, true}, 5, 1},
	{{3, 1, 2, 1}, {true, true, true, true}, 0, 1},
	{{3, 1, 2, 1}, {true, true, true, true}, 2, 3},
	{{3, 1, 2, 0}, {true, true, true, false}, 0, 1},
	{{0, 0, 0, 0}, {false, false, false, false}, 0, -1},
	{{9, 9, 9, 9}, {false, false, true, false}, 0, 2},
};

START_TEST(test_least_loaded)
{
	ck_assert_int_eq(sinkgroup_least_loaded(least[_i].in_flight,
						least[_i].eligible, 4,
						least[_i].start),
			 least[_i].want);
	ck_assert_int_eq(sinkgroup_least_loaded(least[_i].in_flight,
						least[_i].eligible, 0, 0), -1);
}
END_TEST

/*
 * Health, as scripts: outcomes at times (ms), and after each, whether
 * the member is out and whether it changed.  Policy: 3 failures in a
 * row, or refusals for 5 s; probes after 1 s, doubling to 4 s.
 */
#define OK SINKGROUP_OK
#define FAIL SINKGROUP_FAILED
#define REF SINKGROUP_REFUSED
#define BUSY SINKGROUP_BUSY

struct step {
	enum sinkgroup_outcome o;
	bool probe;
	int at_ms;
	bool out, changed;
	int probe_at_ms; /* out: when the next probe is due; -1: not checked */
};

static const struct {
	const char *name;
	struct step steps[8];
	int n;
} scripts[] = {
	{"three failures in a row", {{FAIL, false, 0, false, false, -1},
				     {FAIL, false, 10, false, false, -1},
				     {FAIL, false, 20, true, true, 1020}}, 3},
	{"a success clears the count", {{FAIL, false, 0, false, false, -1},
					{FAIL, false, 10, false, false, -1},
					{OK, false, 20, false, false, -1},
					{FAIL, false, 30, false, false, -1},
					{FAIL, false, 40, false, false, -1}}, 5},
	{"Retry-After counts for nothing", {{FAIL, false, 0, false, false, -1},
					    {BUSY, false, 10, false, false, -1},
					    {BUSY, false, 20, false, false, -1},
					    {FAIL, false, 30, false, false, -1}}, 4},
	{"refused for 5 s", {{REF, false, 0, false, false, -1},
			     {OK, false, 100, false, false, -1},
			     {REF, false, 200, false, false, -1},
			     {OK, false, 300, false, false, -1},
			     {REF, false, 1000, false, false, -1},
			     {BUSY, false, 5000, false, false, -1},
			     {REF, false, 6000, true, true, 7000}}, 7},
	{"a failure ends a run of refusals", {{REF, false, 0, false, false, -1},
					      {FAIL, false, 4000, false, false, -1},
					      {OK, false, 4100, false, false, -1},
					      {REF, false, 4200, false, false, -1},
					      {REF, false, 9100, false, false, -1},
					      {REF, false, 9200, true, true, 10200}}, 6},
	{"failed probes double the wait, to 4 s",
	 {{FAIL, false, 0, false, false, -1},
	  {FAIL, false, 0, false, false, -1},
	  {FAIL, false, 0, true, true, 1000},
	  {FAIL, true, 1000, true, false, 3000},
	  {REF, true, 3000, true, false, 7000},
	  {FAIL, true, 7000, true, false, 11000},
	  {FAIL, false, 7500, true, false, 11000},
	  {OK, true, 11000, false, true, -1}}, 8},
	{"any success puts it back", {{REF, false, 0, false, false, -1},
				      {REF, false, 0, false, false, -1},
				      {REF, false, 0, true, true, 1000},
				      {OK, false, 10, false, true, -1}}, 4},
};

START_TEST(test_health)
{
	const struct sinkgroup_policy p = {3, 5000 * 1000, 1000, 4000};
	struct sinkgroup_health h;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < scripts[_i].n; i++) {
		const struct step *s = &scripts[_i].steps[i];
		bool changed = sinkgroup_record(&h, &p, s->o, s->probe,
						(int64_t)s->at_ms * 1000);

		ck_assert_msg(h.out == s->out && changed == s->changed,
			      "%s, step %d: out %d changed %d", scripts[_i].name,
			      i, h.out, changed);
		if (s->probe_at_ms >= 0)
			ck_assert_int_eq(h.probe_at_us, (int64_t)s->probe_at_ms * 1000);
	}
}
END_TEST

/* A probe is due once its time has come, and not while one is in flight. */
START_TEST(test_probe_due)
{
	struct sinkgroup_health h = {.out = true, .probe_at_us = 1000};

	ck_assert(!sinkgroup_probe_due(&h, 999));
	ck_assert(sinkgroup_probe_due(&h, 1000));
	h.probing = true;
	ck_assert(!sinkgroup_probe_due(&h, 5000));
	h.probing = false;
	h.out = false;
	ck_assert(!sinkgroup_probe_due(&h, 5000));
}
END_TEST

static Suite *
sinkgroup_suite(void)
{
	Suite *s = suite_create("sinkgroup");
	TCase *tc = tcase_create("sinkgroup");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_weight_fixed, 0, NELEM(weights));
	tcase_add_loop_test(tc, test_balance, 0, NELEM(balance_n));
	tcase_add_test(tc, test_order_free);
	tcase_add_loop_test(tc, test_change_moves_few, 0, NELEM(changes));
	tcase_add_test(tc, test_out_of_rotation);
	tcase_add_loop_test(tc, test_least_loaded, 0, NELEM(least));
	tcase_add_loop_test(tc, test_health, 0, NELEM(scripts));
	tcase_add_test(tc, test_probe_due);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sinkgroup_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
