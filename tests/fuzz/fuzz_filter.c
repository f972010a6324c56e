/* libFuzzer target: subscription filters (compile, match, the data dialect) and subscription bodies. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "datafilter.h"
#include "filter.h"
#include "jsonexact.h"
#include "subscription.h"

/*
 * The input is JSON.  It is compiled as a filters array, parsed as a
 * subscription body when it is an object, and, whatever it is, placed as
 * "filters" in an otherwise valid subscription, which must then parse
 * exactly when the filters compile.  Every accepted subscription must
 * survive its stored form (sub_to_json, then sub_parse) unchanged.  The
 * input is parsed as the API parses bodies, numbers keeping their text,
 * so data filters see exact operands; matching with one data view shared
 * by all filters of an event must agree with a view per match, and
 * filters that do not look at the data must never parse it.
 */

#define SINK "https://sink.example/hook"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Events the filters are matched against: attributes of every JSON type. */
static const char *const event_texts[] = {
	"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/src\","
	"\"type\":\"t\"}",
	"{\"specversion\":\"1.0\",\"id\":\"abc-123\","
	"\"source\":\"https://example.com/orders\","
	"\"type\":\"com.example.order.created\",\"subject\":\"orders/42\","
	"\"datacontenttype\":\"application/json\","
	"\"time\":\"2024-02-29T12:00:00Z\",\"partitionkey\":\"customer-7\","
	"\"data\":{\"total\":10}}",
	"{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"urn:x\","
	"\"type\":\"com.example.order.cancelled\",\"region\":\"eu\","
	"\"priority\":-3,\"urgent\":true,\"retried\":false,"
	"\"big\":2147483647,\"small\":-2147483648}",
	"{\"specversion\":\"1.0\",\"id\":\"3\",\"source\":\"/caf\\u00e9\","
	"\"type\":\"t\",\"subject\":\"\\u00e9t\\u00e9\",\"ext0\":\"\","
	"\"datacontenttype\":\"text/plain\",\"data\":\"hello\"}",
	/* JSON data of every shape, with numbers doubles cannot hold */
	"{\"specversion\":\"1.0\",\"id\":\"4\",\"source\":\"/d\","
	"\"type\":\"t\",\"data\":{\"changed\":[\"address\",\"email\"],"
	"\"customer\":{\"tier\":\"gold\",\"id\":\"c-1\"},\"total\":100,"
	"\"n\":9007199254740993,\"x\":1.10e-3,\"h\":-1e400,"
	"\"a/b\":{\"m~n\":[0,[1,{\"\":null}],true,false]},\"s\":\"\u00e9\","
	"\"dup\":1,\"dup\":\"2\"}}",
	"{\"specversion\":\"1.0\",\"id\":\"5\",\"source\":\"/d\","
	"\"type\":\"t\",\"datacontenttype\":\"application/x+json\","
	"\"data\":[1,\"1\",1.0,[],{},null,123456789012345678901234567890]}",
	"{\"specversion\":\"1.0\",\"id\":\"6\",\"source\":\"/d\","
	"\"type\":\"t\",\"data\":-0.0}",
	"{\"specversion\":\"1.0\",\"id\":\"7\",\"source\":\"/d\","
	"\"type\":\"t\",\"data_base64\":\"eyJhIjoxfQ==\"}",
};

#define NEVENTS (sizeof(event_texts) / sizeof(event_texts[0]))

static struct cloudevent events[NEVENTS];

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_filter: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void
load_events(void)
{
	static int loaded;
	struct herald_error err;
	size_t i;

	if (loaded)
		return;
	for (i = 0; i < NEVENTS; i++)
		if (ce_parse_structured(event_texts[i], strlen(event_texts[i]),
					&events[i], &err) != 0)
			die("fixed event refused", err.message);
	loaded = 1;
}

/* Compile as a filters array and evaluate; returns whether it compiled. */
static int
check_filter(const cJSON *json, bool *matched)
{
	struct herald_error err;
	struct filter *f;
	size_t i;

	if (filter_compile(json, &f, &err) != 0) {
		if (f != NULL)
			die("refused filter handed back", NULL);
		if (strcmp(err.code, "invalid_filter") != 0 ||
		    strncmp(err.field, "filters", 7) != 0)
			die("filter refused without its code and path",
			    err.field);
		return -1;
	}
	for (i = 0; i < NEVENTS; i++) {
		struct datafilter_view v;
		bool again;

		matched[i] = filter_match(f, &events[i], NULL);
		/* a shared view: the same answer, parsed only when asked */
		datafilter_view_init(&v, &events[i]);
		if (filter_match(f, &events[i], &v) != matched[i])
			die("a shared data view matches differently", NULL);
		if (v.parsed && !filter_needs_data(f))
			die("data parsed for a filter that does not need it",
			    NULL);
		again = filter_match(f, &events[i], &v);
		if (again != matched[i])
			die("a reused data view matches differently", NULL);
		datafilter_view_free(&v);
	}
	filter_free(f);
	return 0;
}

/* Everything done with an accepted subscription. */
static void
check_subscription(const struct subscription *sub, const cJSON *patch)
{
	struct herald_error err;
	struct subscription again;
	cJSON *stored, *stored2, *merged;
	char *text;
	size_t i;

	stored = sub_to_json(sub, true);
	if (sub_parse(stored, &again, &err) != 0) {
		text = cJSON_PrintUnformatted(stored);
		fprintf(stderr, "fuzz_filter: %s: %s\n", err.field, err.message);
		die("stored subscription does not parse again", text);
	}
	stored2 = sub_to_json(&again, true);
	if (!cJSON_Compare(stored, stored2, true))
		die("stored subscription changed on a round trip", NULL);
	for (i = 0; i < NEVENTS; i++) {
		if (sub_matches(sub, &events[i], NULL) !=
		    sub_matches(&again, &events[i], NULL))
			die("stored subscription matches differently", NULL);
		if (sub_ordering_key(sub, &events[i]) == NULL &&
		    sub->delivery.ordering == SUB_ORDER_GLOBAL)
			die("global ordering without a key", NULL);
	}
	sub_free(&again);
	merged = sub_merge_patch(stored, patch, &err);
	if (merged != NULL) {
		if (sub_parse(merged, &again, &err) == 0)
			sub_free(&again);
		cJSON_Delete(merged);
	}
	/* sub_to_json without the credential is what GET shows */
	cJSON_Delete(sub_to_json(sub, false));
	cJSON_Delete(stored2);
	cJSON_Delete(stored);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool matched[NEVENTS], matched2[NEVENTS];
	struct herald_error err;
	struct subscription sub;
	cJSON *json, *body;
	int compiled;
	size_t i;

	load_events();
	json = jsonexact_parse((const char *)data, size);
	if (json == NULL)
		return 0;

	compiled = check_filter(json, matched);

	if (cJSON_IsObject(json) && sub_parse(json, &sub, &err) == 0) {
		check_subscription(&sub, json);
		sub_free(&sub);
	}

	/* the same JSON as the filters of a valid subscription */
	body = cJSON_CreateObject();
	if (body == NULL)
		abort();
	cJSON_AddStringToObject(body, "sink", SINK);
	cJSON_AddItemReferenceToObject(body, "filters", json);
	if (sub_parse(body, &sub, &err) == 0) {
		if (compiled != 0)
			die("subscription took filters that do not compile",
			    NULL);
		for (i = 0; i < NEVENTS; i++)
			if (sub_matches(&sub, &events[i], NULL) != matched[i])
				die("subscription and filter disagree", NULL);
		check_subscription(&sub, json);
		sub_free(&sub);
	} else if (compiled == 0) {
		die("filters compile but the subscription refuses them",
		    err.message);
	}
	cJSON_Delete(body);

	/* "not" inverts; wrapped filters are one level deeper */
	if (compiled == 0 && cJSON_IsArray(json) &&
	    cJSON_GetArraySize(json) > 0) {
		cJSON *wrap = cJSON_CreateArray(), *not = cJSON_CreateObject(),
		      *all = cJSON_CreateObject();

		if (wrap == NULL || not == NULL || all == NULL)
			abort();
		cJSON_AddItemReferenceToObject(all, "all", json);
		cJSON_AddItemToObject(not, "not", all);
		cJSON_AddItemToArray(wrap, not);
		if (check_filter(wrap, matched2) == 0) {
			for (i = 0; i < NEVENTS; i++)
				if (matched2[i] == matched[i])
					die("not of all did not invert the match",
					    NULL);
		}
		cJSON_Delete(wrap);
	}

	cJSON_Delete(json);
	return 0;
}
