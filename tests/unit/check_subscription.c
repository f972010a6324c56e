/* Unit tests for subscription validation, rendering, merge patches and filters. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "herald.h"
#include "subscription.h"

/* Table JSON is written with single quotes for readability; J() swaps them
 * for double quotes (no test string contains a real single quote). */
static cJSON *
J(const char *sq)
{
	char buf[4096];
	size_t i, n = strlen(sq);
	cJSON *j;

	ck_assert_uint_lt(n, sizeof(buf));
	for (i = 0; i <= n; i++)
		buf[i] = sq[i] == '\'' ? '"' : sq[i];
	j = cJSON_Parse(buf);
	ck_assert_msg(j != NULL, "bad test JSON: %s", sq);
	return j;
}

static int
parse_sq(const char *sq, struct subscription *sub, struct herald_error *err)
{
	cJSON *j = J(sq);
	int rc;

	memset(err, 0, sizeof(*err));
	rc = sub_parse(j, sub, err);
	cJSON_Delete(j);
	return rc;
}

/* An event made directly from a JSON object of attributes. */
static void
make_event(const char *sq, struct cloudevent *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->attrs = J(sq);
#define STR(f) ev->f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->attrs, #f))
	STR(id);
	STR(source);
	STR(specversion);
	STR(type);
	STR(subject);
	STR(datacontenttype);
	STR(dataschema);
	STR(time);
	STR(partitionkey);
#undef STR
}

static const char *const EVENT_FULL =
	"{'specversion':'1.0','id':'A-1','source':'/order/v1',"
	"'type':'com.example.orderPlaced','subject':'eu/orders/42',"
	"'partitionkey':'cust-7','channel':'live','priority':5,"
	"'urgent':true,'quiet':false,'neg':-3}";
static const char *const EVENT_MIN =
	"{'specversion':'1.0','id':'B-2','source':'/order/v1',"
	"'type':'com.example.orderCancelled'}";
static const char *const EVENT_TEST =
	"{'specversion':'1.0','id':'C-3','source':'/order/v1',"
	"'type':'com.example.orderPlaced','subject':'eu/orders/43',"
	"'channel':'test'}";

static const char *const DESIGN_EXAMPLE =
	"{'sink':'https://orders.example.com/hooks/herald','protocol':'HTTP',"
	"'source':'/order/v1',"
	"'types':['com.example.orderPlaced','com.example.orderCancelled'],"
	"'filters':[{'prefix':{'subject':'eu/'}},{'not':{'exact':{'channel':'test'}}}],"
	"'protocolsettings':{'headers':{'X-Team':'billing'}},"
	"'sinkcredential':{'credential_type':'ACCESSTOKEN','access_token':'...'},"
	"'delivery':{'mode':'binary','ordering':'partitionkey',"
	"'rate':50,'burst':100,'max_in_flight':8,'timeout_ms':10000,"
	"'retry':{'max_attempts':10,'initial_ms':5000,'multiplier':4.0,"
	"'max_ms':36000000,'jitter':0.2}}}";

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
assert_sub_equal(const struct subscription *a, const struct subscription *b)
{
	size_t i;

	ck_assert(str_eq(a->sink, b->sink));
	ck_assert_uint_eq(a->nsinks, b->nsinks);
	for (i = 0; i < a->nsinks; i++)
		ck_assert_str_eq(a->sinks[i], b->sinks[i]);
	ck_assert(str_eq(a->source, b->source));
	ck_assert_uint_eq(a->ntypes, b->ntypes);
	for (i = 0; i < a->ntypes; i++)
		ck_assert_str_eq(a->types[i], b->types[i]);
	ck_assert(cJSON_Compare(a->filters, b->filters, true) ||
		  (a->filters == NULL && b->filters == NULL));
	ck_assert_int_eq(a->filter == NULL, b->filter == NULL);
	ck_assert_uint_eq(a->nheaders, b->nheaders);
	for (i = 0; i < a->nheaders; i++) {
		ck_assert_str_eq(a->headers[i].name, b->headers[i].name);
		ck_assert_str_eq(a->headers[i].value, b->headers[i].value);
	}
	ck_assert(str_eq(a->access_token, b->access_token));
	ck_assert(cJSON_Compare(a->config, b->config, true) ||
		  (a->config == NULL && b->config == NULL));
	ck_assert_int_eq(a->delivery.mode, b->delivery.mode);
	ck_assert_int_eq(a->delivery.ordering, b->delivery.ordering);
	ck_assert(a->delivery.rate == b->delivery.rate);
	ck_assert_int_eq(a->delivery.burst, b->delivery.burst);
	ck_assert_int_eq(a->delivery.max_in_flight, b->delivery.max_in_flight);
	ck_assert_int_eq(a->delivery.timeout_ms, b->delivery.timeout_ms);
	ck_assert_int_eq(a->delivery.retry.max_attempts,
			 b->delivery.retry.max_attempts);
	ck_assert_int_eq(a->delivery.retry.initial_ms,
			 b->delivery.retry.initial_ms);
	ck_assert(a->delivery.retry.multiplier == b->delivery.retry.multiplier);
	ck_assert_int_eq(a->delivery.retry.max_ms, b->delivery.retry.max_ms);
	ck_assert(a->delivery.retry.jitter == b->delivery.retry.jitter);
	ck_assert_int_eq(a->status, b->status);
}

/* ---- valid bodies parse and round-trip ---- */

static const char *const valid_bodies[] = {
	NULL, /* DESIGN_EXAMPLE */
	"{'sink':'http://localhost:8080/x'}",
	"{'sinks':['http://worker-a/hook']}",
	"{'sinks':['http://worker-a/hook','http://worker-b/hook','HTTPS://worker-c:8443/h'],'sink':null,"
	"'delivery':{'max_in_flight':2}}",
	"{'sink':'https://a.example','source':null,'types':null,'filters':null,"
	"'protocol':null,'protocolsettings':null,'sinkcredential':null,"
	"'config':null,'delivery':null,'status':null}",
	"{'sink':'https://a.example','types':[],'filters':[]}",
	"{'sink':'https://a.example','protocolsettings':{'headers':{}}}",
	"{'sink':'https://a.example','status':'paused','delivery':{'mode':'structured',"
	"'ordering':'global','rate':0.5,'max_in_flight':1000,'timeout_ms':100,"
	"'retry':{'max_attempts':1,'initial_ms':0,'multiplier':1,'max_ms':0,'jitter':0}}}",
	"{'sink':'https://a.example','status':'disabled','delivery':{'ordering':'none',"
	"'rate':100000,'burst':100000,'timeout_ms':120000,'retry':{'max_attempts':100,"
	"'initial_ms':86400000,'multiplier':10,'max_ms':604800000,'jitter':1}}}",
	"{'sink':'https://a.example','delivery':{'ordering':'subject','rate':2.25,"
	"'retry':{'initial_ms':40000000}}}",
	"{'sink':'https://a.example','config':{'a':'b','c':''}}",
	"{'sink':'https://a.example','config':{}}",
	"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN',"
	"'access_token':'tok','expiration_time':'2030-01-01T00:00:00Z','refresh_token':'r'}}",
	"{'sink':'http://[2001:db8::1]:8443/h','protocolsettings':{'headers':"
	"{'X-A':'1','x-b':'two words','X-Trace!#$%&*+.^_|~':'v'}}}",
	"{'sink':'https://a.example','filters':[{'any':[{'exact':{'type':'a'}},"
	"{'all':[{'suffix':{'subject':'/x'}},{'not':{'prefix':{'myext1':'v'}}}]}]}]}",
	"{'sink':'https://a.example','delivery':{'retry':{}}}",
};

START_TEST(test_valid_roundtrip)
{
	const char *body = valid_bodies[_i] ? valid_bodies[_i] : DESIGN_EXAMPLE;
	struct subscription a, b;
	struct herald_error err;
	cJSON *ja, *jb;
	int rc;

	rc = parse_sq(body, &a, &err);
	ck_assert_msg(rc == 0, "%s: %s %s %s", body, err.code, err.field,
		      err.message);
	ja = sub_to_json(&a, true);
	rc = sub_parse(ja, &b, &err);
	ck_assert_msg(rc == 0, "reparse: %s %s", err.field, err.message);
	assert_sub_equal(&a, &b);
	jb = sub_to_json(&b, true);
	ck_assert(cJSON_Compare(ja, jb, true));
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	sub_free(&a);
	sub_free(&b);
}
END_TEST

START_TEST(test_design_example)
{
	struct subscription s;
	struct herald_error err;
	cJSON *j, *d;

	ck_assert_int_eq(parse_sq(DESIGN_EXAMPLE, &s, &err), 0);
	ck_assert_str_eq(s.sink, "https://orders.example.com/hooks/herald");
	ck_assert_str_eq(s.source, "/order/v1");
	ck_assert_uint_eq(s.ntypes, 2);
	ck_assert_str_eq(s.types[1], "com.example.orderCancelled");
	ck_assert_ptr_nonnull(s.filter);
	ck_assert_uint_eq(s.nheaders, 1);
	ck_assert_str_eq(s.headers[0].name, "X-Team");
	ck_assert_str_eq(s.headers[0].value, "billing");
	ck_assert_str_eq(s.access_token, "...");
	ck_assert(s.delivery.rate == 50.0);
	ck_assert_int_eq(s.delivery.burst, 100);
	ck_assert_int_eq(s.status, SUB_ACTIVE);

	/* without credential: no secret anywhere in the rendering */
	j = sub_to_json(&s, false);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "sinkcredential"));
	d = cJSON_GetObjectItemCaseSensitive(j, "delivery");
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(d, "retry"));
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")),
			 "active");
	{
		char *text = cJSON_PrintUnformatted(j);

		ck_assert_ptr_null(strstr(text, "ACCESSTOKEN"));
		ck_assert_ptr_null(strstr(text, "access_token"));
		free(text);
	}
	cJSON_Delete(j);
	j = sub_to_json(&s, true);
	d = cJSON_GetObjectItemCaseSensitive(j, "sinkcredential");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "access_token")),
			 "...");
	cJSON_Delete(j);
	sub_free(&s);
}
END_TEST

/* ---- defaults ---- */

START_TEST(test_defaults)
{
	struct subscription s;
	struct herald_error err;
	const cJSON *d, *r;
	cJSON *j;

	ck_assert_int_eq(parse_sq("{'sink':'https://a.example/'}", &s, &err), 0);
	ck_assert_ptr_null(s.source);
	ck_assert_ptr_null(s.types);
	ck_assert_uint_eq(s.ntypes, 0);
	ck_assert_ptr_null(s.filters);
	ck_assert_ptr_null(s.filter);
	ck_assert_ptr_null(s.headers);
	ck_assert_ptr_null(s.access_token);
	ck_assert_ptr_null(s.config);
	ck_assert_int_eq(s.delivery.mode, SUB_MODE_BINARY);
	ck_assert_int_eq(s.delivery.ordering, SUB_ORDER_PARTITIONKEY);
	ck_assert(s.delivery.rate == 0.0);
	ck_assert_int_eq(s.delivery.burst, 1);
	ck_assert_int_eq(s.delivery.max_in_flight, 8);
	ck_assert_int_eq(s.delivery.timeout_ms, 10000);
	ck_assert_int_eq(s.delivery.retry.max_attempts, 10);
	ck_assert_int_eq(s.delivery.retry.initial_ms, 5000);
	ck_assert(s.delivery.retry.multiplier == 4.0);
	ck_assert_int_eq(s.delivery.retry.max_ms, 36000000);
	ck_assert(s.delivery.retry.jitter == 0.2);
	ck_assert_int_eq(s.status, SUB_ACTIVE);

	j = sub_to_json(&s, true);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "protocol")),
			 "HTTP");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "source"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "types"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "filters"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "protocolsettings"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "config"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "sinkcredential"));
	d = cJSON_GetObjectItemCaseSensitive(j, "delivery");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "mode")),
			 "binary");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "ordering")),
			 "partitionkey");
	ck_assert(cJSON_GetObjectItemCaseSensitive(d, "rate")->valuedouble == 0);
	ck_assert(cJSON_GetObjectItemCaseSensitive(d, "burst")->valuedouble == 1);
	ck_assert(cJSON_GetObjectItemCaseSensitive(d, "max_in_flight")->valuedouble == 8);
	ck_assert(cJSON_GetObjectItemCaseSensitive(d, "timeout_ms")->valuedouble == 10000);
	r = cJSON_GetObjectItemCaseSensitive(d, "retry");
	ck_assert(cJSON_GetObjectItemCaseSensitive(r, "max_attempts")->valuedouble == 10);
	ck_assert(cJSON_GetObjectItemCaseSensitive(r, "initial_ms")->valuedouble == 5000);
	ck_assert(cJSON_GetObjectItemCaseSensitive(r, "multiplier")->valuedouble == 4.0);
	ck_assert(cJSON_GetObjectItemCaseSensitive(r, "max_ms")->valuedouble == 36000000);
	ck_assert(cJSON_GetObjectItemCaseSensitive(r, "jitter")->valuedouble == 0.2);
	cJSON_Delete(j);
	sub_free(&s);
}
END_TEST

static const struct {
	const char *delivery;
	int burst;
	long max_ms;
} derived_defaults[] = {
	{"{}", 1, 36000000},
	{"{'rate':0}", 1, 36000000},
	{"{'rate':0.5}", 1, 36000000},
	{"{'rate':1}", 1, 36000000},
	{"{'rate':2.2}", 3, 36000000},
	{"{'rate':50}", 50, 36000000},
	{"{'rate':50,'burst':7}", 7, 36000000},
	{"{'retry':{'initial_ms':40000000}}", 1, 40000000},
	{"{'retry':{'initial_ms':100,'max_ms':100}}", 1, 100},
};

START_TEST(test_derived_defaults)
{
	struct subscription s;
	struct herald_error err;
	char body[256];

	snprintf(body, sizeof(body), "{'sink':'https://a.example','delivery':%s}",
		 derived_defaults[_i].delivery);
	ck_assert_int_eq(parse_sq(body, &s, &err), 0);
	ck_assert_int_eq(s.delivery.burst, derived_defaults[_i].burst);
	ck_assert_int_eq(s.delivery.retry.max_ms, derived_defaults[_i].max_ms);
	sub_free(&s);
}
END_TEST

/* ---- invalid bodies ---- */

static const struct {
	const char *body;
	const char *code;
	const char *field;
} invalid_bodies[] = {
	{"[]", "invalid_field", ""},
	{"'https://a.example'", "invalid_field", ""},
	{"{}", "missing_field", "sink"},
	{"{'sink':null}", "missing_field", "sink"},
	{"{'sink':42}", "invalid_field", "sink"},
	{"{'sinks':null}", "missing_field", "sink"},
	{"{'sink':'https://a.example','sinks':['https://b.example']}", "invalid_field", "sinks"},
	{"{'sinks':'https://a.example'}", "invalid_field", "sinks"},
	{"{'sinks':[]}", "invalid_field", "sinks"},
	{"{'sinks':['http://a/1','http://a/2','http://a/3','http://a/4','http://a/5',"
	 "'http://a/6','http://a/7','http://a/8','http://a/9','http://a/10','http://a/11',"
	 "'http://a/12','http://a/13','http://a/14','http://a/15','http://a/16','http://a/17']}",
	 "invalid_field", "sinks"},
	{"{'sinks':['https://a.example',7]}", "invalid_field", "sinks[1]"},
	{"{'sinks':['https://a.example',null]}", "invalid_field", "sinks[1]"},
	{"{'sinks':['https://a.example','ftp://b.example']}", "invalid_field", "sinks[1]"},
	{"{'sinks':['https://u:p@a.example']}", "invalid_field", "sinks[0]"},
	{"{'sinks':['https://a.example/x','https://b.example','HTTPS://a.example/x']}", "invalid_field", "sinks[2]"},
	{"{'sink':'https://a.example','bogus':1}", "unknown_field", "bogus"},
	{"{'sink':'https://a.example','Sink':'https://b'}", "unknown_field", "Sink"},
	{"{'sink':'https://a.example','sink':'https://b.example'}", "invalid_field", "sink"},
	{"{'sink':'https://a.example','protocol':'MQTT'}", "invalid_field", "protocol"},
	{"{'sink':'https://a.example','protocol':'http'}", "invalid_field", "protocol"},
	{"{'sink':'https://a.example','protocol':1}", "invalid_field", "protocol"},
	{"{'sink':'https://a.example','protocolsettings':[]}", "invalid_field", "protocolsettings"},
	{"{'sink':'https://a.example','protocolsettings':{'method':'POST'}}", "unknown_field", "protocolsettings.method"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':[]}}", "invalid_field", "protocolsettings.headers"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X Team':'a'}}}", "invalid_field", "protocolsettings.headers.X Team"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X:A':'a'}}}", "invalid_field", "protocolsettings.headers.X:A"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'':'a'}}}", "invalid_field", "protocolsettings.headers."},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X-A':'a\\r\\nX-B: b'}}}", "invalid_field", "protocolsettings.headers.X-A"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X-A':'a\\u0001'}}}", "invalid_field", "protocolsettings.headers.X-A"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X-A':1}}}", "invalid_field", "protocolsettings.headers.X-A"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X-A':null}}}", "invalid_field", "protocolsettings.headers.X-A"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X-A':''}}}", "invalid_field", "protocolsettings.headers.X-A"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'X-A':'1','x-a':'2'}}}", "invalid_field", "protocolsettings.headers.x-a"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'Content-Type':'x'}}}", "invalid_field", "protocolsettings.headers.Content-Type"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'content-length':'1'}}}", "invalid_field", "protocolsettings.headers.content-length"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'HOST':'x'}}}", "invalid_field", "protocolsettings.headers.HOST"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'Authorization':'x'}}}", "invalid_field", "protocolsettings.headers.Authorization"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'User-Agent':'x'}}}", "invalid_field", "protocolsettings.headers.User-Agent"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'CE-Type':'x'}}}", "invalid_field", "protocolsettings.headers.CE-Type"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'webhook-signature':'x'}}}", "invalid_field", "protocolsettings.headers.webhook-signature"},
	{"{'sink':'https://a.example','protocolsettings':{'headers':{'Transfer-Encoding':'x'}}}", "invalid_field", "protocolsettings.headers.Transfer-Encoding"},
	{"{'sink':'https://a.example','sinkcredential':'x'}", "invalid_field", "sinkcredential"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'PLAIN','access_token':'a'}}", "invalid_field", "sinkcredential.credential_type"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'accesstoken','access_token':'a'}}", "invalid_field", "sinkcredential.credential_type"},
	{"{'sink':'https://a.example','sinkcredential':{'access_token':'a'}}", "missing_field", "sinkcredential.credential_type"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN'}}", "missing_field", "sinkcredential.access_token"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN','access_token':''}}", "invalid_field", "sinkcredential.access_token"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN','access_token':'a\\nb'}}", "invalid_field", "sinkcredential.access_token"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN','access_token':7}}", "invalid_field", "sinkcredential.access_token"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN','access_token':'a','refresh_token':1}}", "invalid_field", "sinkcredential.refresh_token"},
	{"{'sink':'https://a.example','sinkcredential':{'credential_type':'ACCESSTOKEN','access_token':'a','username':'u'}}", "unknown_field", "sinkcredential.username"},
	{"{'sink':'https://a.example','source':''}", "invalid_field", "source"},
	{"{'sink':'https://a.example','source':5}", "invalid_field", "source"},
	{"{'sink':'https://a.example','types':'a'}", "invalid_field", "types"},
	{"{'sink':'https://a.example','types':['']}", "invalid_field", "types[0]"},
	{"{'sink':'https://a.example','types':['a',3]}", "invalid_field", "types[1]"},
	{"{'sink':'https://a.example','types':['a',null]}", "invalid_field", "types[1]"},
	{"{'sink':'https://a.example','filters':{}}", "invalid_filter", "filters"},
	{"{'sink':'https://a.example','filters':[{'sql':'a ='}]}", "invalid_filter", "filters[0].sql"},
	{"{'sink':'https://a.example','filters':[{'exact':{'a':'b'}},{'not':{'exact':{'a':1}}}]}", "invalid_filter", "filters[1].not.exact"},
	{"{'sink':'https://a.example','config':[]}", "invalid_field", "config"},
	{"{'sink':'https://a.example','config':{'a':1}}", "invalid_field", "config.a"},
	{"{'sink':'https://a.example','config':{'a':'1','a':'2'}}", "invalid_field", "config.a"},
	{"{'sink':'https://a.example','delivery':1}", "invalid_field", "delivery"},
	{"{'sink':'https://a.example','delivery':{'modes':'binary'}}", "unknown_field", "delivery.modes"},
	{"{'sink':'https://a.example','delivery':{'retrys':{}}}", "unknown_field", "delivery.retrys"},
	{"{'sink':'https://a.example','delivery':{'rate':1,'rate':2}}", "invalid_field", "delivery.rate"},
	{"{'sink':'https://a.example','delivery':{'mode':'push'}}", "invalid_field", "delivery.mode"},
	{"{'sink':'https://a.example','delivery':{'mode':'Binary'}}", "invalid_field", "delivery.mode"},
	{"{'sink':'https://a.example','delivery':{'ordering':'key'}}", "invalid_field", "delivery.ordering"},
	{"{'sink':'https://a.example','delivery':{'ordering':1}}", "invalid_field", "delivery.ordering"},
	{"{'sink':'https://a.example','delivery':{'rate':-1}}", "invalid_field", "delivery.rate"},
	{"{'sink':'https://a.example','delivery':{'rate':100000.5}}", "invalid_field", "delivery.rate"},
	{"{'sink':'https://a.example','delivery':{'rate':'5'}}", "invalid_field", "delivery.rate"},
	{"{'sink':'https://a.example','delivery':{'burst':0}}", "invalid_field", "delivery.burst"},
	{"{'sink':'https://a.example','delivery':{'burst':1.5}}", "invalid_field", "delivery.burst"},
	{"{'sink':'https://a.example','delivery':{'burst':100001}}", "invalid_field", "delivery.burst"},
	{"{'sink':'https://a.example','delivery':{'burst':true}}", "invalid_field", "delivery.burst"},
	{"{'sink':'https://a.example','delivery':{'max_in_flight':0}}", "invalid_field", "delivery.max_in_flight"},
	{"{'sink':'https://a.example','delivery':{'max_in_flight':1001}}", "invalid_field", "delivery.max_in_flight"},
	{"{'sink':'https://a.example','delivery':{'timeout_ms':99}}", "invalid_field", "delivery.timeout_ms"},
	{"{'sink':'https://a.example','delivery':{'timeout_ms':120001}}", "invalid_field", "delivery.timeout_ms"},
	{"{'sink':'https://a.example','delivery':{'timeout_ms':1000.5}}", "invalid_field", "delivery.timeout_ms"},
	{"{'sink':'https://a.example','delivery':{'timeout_ms':1e999}}", "invalid_field", "delivery.timeout_ms"},
	{"{'sink':'https://a.example','delivery':{'retry':[]}}", "invalid_field", "delivery.retry"},
	{"{'sink':'https://a.example','delivery':{'retry':{'retries':3}}}", "unknown_field", "delivery.retry.retries"},
	{"{'sink':'https://a.example','delivery':{'retry':{'max_attempts':0}}}", "invalid_field", "delivery.retry.max_attempts"},
	{"{'sink':'https://a.example','delivery':{'retry':{'max_attempts':101}}}", "invalid_field", "delivery.retry.max_attempts"},
	{"{'sink':'https://a.example','delivery':{'retry':{'max_attempts':2.5}}}", "invalid_field", "delivery.retry.max_attempts"},
	{"{'sink':'https://a.example','delivery':{'retry':{'initial_ms':-1}}}", "invalid_field", "delivery.retry.initial_ms"},
	{"{'sink':'https://a.example','delivery':{'retry':{'initial_ms':86400001}}}", "invalid_field", "delivery.retry.initial_ms"},
	{"{'sink':'https://a.example','delivery':{'retry':{'multiplier':0.5}}}", "invalid_field", "delivery.retry.multiplier"},
	{"{'sink':'https://a.example','delivery':{'retry':{'multiplier':10.5}}}", "invalid_field", "delivery.retry.multiplier"},
	{"{'sink':'https://a.example','delivery':{'retry':{'max_ms':1000}}}", "invalid_field", "delivery.retry.max_ms"},
	{"{'sink':'https://a.example','delivery':{'retry':{'initial_ms':100,'max_ms':99}}}", "invalid_field", "delivery.retry.max_ms"},
	{"{'sink':'https://a.example','delivery':{'retry':{'max_ms':604800001}}}", "invalid_field", "delivery.retry.max_ms"},
	{"{'sink':'https://a.example','delivery':{'retry':{'jitter':-0.1}}}", "invalid_field", "delivery.retry.jitter"},
	{"{'sink':'https://a.example','delivery':{'retry':{'jitter':1.1}}}", "invalid_field", "delivery.retry.jitter"},
	{"{'sink':'https://a.example','status':'stopped'}", "invalid_field", "status"},
	{"{'sink':'https://a.example','status':'Active'}", "invalid_field", "status"},
	{"{'sink':'https://a.example','status':true}", "invalid_field", "status"},
};

START_TEST(test_invalid_body)
{
	struct subscription s;
	struct herald_error err;
	const char *body = invalid_bodies[_i].body;

	ck_assert_msg(parse_sq(body, &s, &err) == -1, "accepted: %s", body);
	ck_assert_str_eq(err.code, invalid_bodies[_i].code);
	ck_assert_str_eq(err.field, invalid_bodies[_i].field);
	ck_assert_int_eq(err.index, -1);
	ck_assert_msg(err.message[0] != '\0', "no message for %s", body);
	ck_assert_msg(err.message[strlen(err.message) - 1] != '.',
		      "trailing period: %s", err.message);
	/* nothing left allocated, struct zeroed */
	ck_assert_ptr_null(s.sink);
	ck_assert_ptr_null(s.headers);
	ck_assert_ptr_null(s.filter);
	sub_free(&s);
}
END_TEST

/* Bounds that need generated input. */
START_TEST(test_limits)
{
	struct subscription s;
	struct herald_error err;
	cJSON *body, *types;
	char url[2100];
	int i;

	/* 256 types are fine, 257 are not */
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "sink", "https://a.example");
	types = cJSON_AddArrayToObject(body, "types");
	for (i = 0; i < 256; i++)
		cJSON_AddItemToArray(types, cJSON_CreateString("t"));
	ck_assert_int_eq(sub_parse(body, &s, &err), 0);
	ck_assert_uint_eq(s.ntypes, 256);
	sub_free(&s);
	cJSON_AddItemToArray(types, cJSON_CreateString("t"));
	ck_assert_int_eq(sub_parse(body, &s, &err), -1);
	ck_assert_str_eq(err.field, "types");
	cJSON_Delete(body);

	/* a 2048-byte sink is fine, 2049 is not */
	memset(url, 'a', sizeof(url));
	memcpy(url, "https://a.example/", 18);
	url[2048] = '\0';
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "sink", url);
	ck_assert_int_eq(sub_parse(body, &s, &err), 0);
	sub_free(&s);
	cJSON_Delete(body);
	url[2048] = 'a';
	url[2049] = '\0';
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "sink", url);
	ck_assert_int_eq(sub_parse(body, &s, &err), -1);
	ck_assert_str_eq(err.field, "sink");
	cJSON_Delete(body);
}
END_TEST

/* ---- sink URLs ---- */

/* sub.sink is the URL libcurl is given: libcurl's rendering of the sink
 * (NULL: refused).  host is sub.sink_host, the host the SSRF guard
 * judges (NULL: not checked; legacy IPv4 forms depend on the libcurl
 * version). */
static const struct {
	const char *url;
	const char *sink;
	const char *host;
} sinks[] = {
	{"http://example.com", "http://example.com/", "example.com"},
	{"https://example.com/hooks?x=1&y=2", "https://example.com/hooks?x=1&y=2",
	 "example.com"},
	{"HTTPS://Example.COM:8443/a", "https://Example.COM:8443/a",
	 "Example.COM"},
	{"Http://example.com/", "http://example.com/", "example.com"},
	{"http://localhost:8080/x", "http://localhost:8080/x", "localhost"},
	{"http://127.0.0.1:1/", "http://127.0.0.1:1/", "127.0.0.1"},
	{"http://h:65535", "http://h:65535/", "h"},
	{"http://[::1]:8080/x", "http://[::1]:8080/x", "::1"},
	{"http://[2001:db8::1]/", "http://[2001:db8::1]/", "2001:db8::1"},
	{"http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]/",
	 "::ffff:127.0.0.1"},
	{"https://my_host.internal/p/a%20b", "https://my_host.internal/p/a%20b",
	 "my_host.internal"},
	{"http://example.com?q", "http://example.com/?q", "example.com"},
	{"http://example.com:/", "http://example.com/", "example.com"},
	{"http://example.com/a@b", "http://example.com/a@b", "example.com"},
	{"http://127.1/", "", NULL},
	{"http://0x7f000001/", "", NULL},
	{"ftp://example.com/", NULL, NULL},
	{"ws://example.com/", NULL, NULL},
	{"/relative/path", NULL, NULL},
	{"example.com/x", NULL, NULL},
	{"http:/x", NULL, NULL},
	{"http:example.com", NULL, NULL},
	{"https//example.com", NULL, NULL},
	{"http://", NULL, NULL},
	{"http:///path", NULL, NULL},
	{"http://:80/", NULL, NULL},
	{"", NULL, NULL},
	/* userinfo is refused whatever it holds */
	{"http://user:pw@example.com/", NULL, NULL},
	{"http://user@example.com/", NULL, NULL},
	{"http://u%40x:p%3Aq@example.com/", NULL, NULL},
	{"http://a@b@example.com/", NULL, NULL},
	{"http://127.0.0.1@example.com/", NULL, NULL},
	{"http://example.com@127.0.0.1/", NULL, NULL},
	{"http://evil.com\\@127.0.0.1/", NULL, NULL},
	{"http://127.0.0.1\\.evil.com/", NULL, NULL},
	{"http://example.com:0/", NULL, NULL},
	{"http://example.com:65536/", NULL, NULL},
	{"http://example.com:123456/", NULL, NULL},
	{"http://example.com:-1/", NULL, NULL},
	{"http://example.com:abc/", NULL, NULL},
	{"http://exa mple.com/", NULL, NULL},
	{"http://example.com/a b", NULL, NULL},
	{" http://example.com/", NULL, NULL},
	{"http://example.com/\t", NULL, NULL},
	{"http://example.com/\n", NULL, NULL},
	{"http://example.com/\x7f", NULL, NULL},
	{"http://ex\xc3\xa4mple.com/", NULL, NULL},
	{"http://example.com/<x>", NULL, NULL},
	{"http://example.com/#frag", NULL, NULL},
	{"http://example.com#", NULL, NULL},
	{"http://[::1/", NULL, NULL},
	{"http://[]/", NULL, NULL},
	{"http://[zz::1]/", NULL, NULL},
	{"http://[::1]x/", NULL, NULL},
	{"http://[fe80::1%25eth0]/", NULL, NULL},
	{"http://exa!mple.com/", NULL, NULL},
	{"mailto:x@example.com", NULL, NULL},
	{"javascript:alert(1)", NULL, NULL},
};

START_TEST(test_sink)
{
	struct subscription s, again;
	struct herald_error err;
	cJSON *body = cJSON_CreateObject(), *j;
	int rc;

	cJSON_AddStringToObject(body, "sink", sinks[_i].url);
	memset(&err, 0, sizeof(err));
	rc = sub_parse(body, &s, &err);
	cJSON_Delete(body);
	if (sinks[_i].sink == NULL) {
		ck_assert_msg(rc == -1, "accepted %s as %s", sinks[_i].url,
			      s.sink);
		ck_assert_str_eq(err.code, "invalid_field");
		ck_assert_str_eq(err.field, "sink");
		ck_assert_msg(strncmp(err.message, "sink ", 5) == 0,
			      "%s: %s", sinks[_i].url, err.message);
		ck_assert_ptr_null(s.sink);
		ck_assert_ptr_null(s.sink_host);
		return;
	}
	ck_assert_msg(rc == 0, "refused %s: %s", sinks[_i].url, err.message);
	if (sinks[_i].sink[0] != '\0')
		ck_assert_str_eq(s.sink, sinks[_i].sink);
	if (sinks[_i].host != NULL)
		ck_assert_str_eq(s.sink_host, sinks[_i].host);
	ck_assert_ptr_nonnull(s.sink_host);
	/* what GET shows parses back to the same URL */
	j = sub_to_json(&s, false);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j,
								      "sink")),
			 s.sink);
	ck_assert_int_eq(sub_parse(j, &again, &err), 0);
	ck_assert_str_eq(again.sink, s.sink);
	ck_assert_str_eq(again.sink_host, s.sink_host);
	sub_free(&again);
	cJSON_Delete(j);
	sub_free(&s);
	ck_assert_ptr_null(s.sink_host);
}
END_TEST

/* Userinfo is refused with a reason that says what to do instead. */
START_TEST(test_sink_userinfo_message)
{
	struct subscription s;
	struct herald_error err;

	ck_assert_int_eq(parse_sq("{'sink':'https://u:p@a.example/'}", &s, &err),
			 -1);
	ck_assert_str_eq(err.field, "sink");
	ck_assert_str_eq(err.message,
			 "sink must not contain userinfo (user:password@); "
			 "send a credential with sinkcredential");
}
END_TEST

/* ---- merge patch ---- */

static const char *const MERGE_BASE =
	"{'sink':'https://a.example','source':'/s','types':['a','b'],"
	"'protocolsettings':{'headers':{'A':'1'}},"
	"'delivery':{'mode':'binary','rate':5,"
	"'retry':{'max_attempts':3,'jitter':0.1}},'status':'active'}";

static const struct {
	const char *patch;
	const char *expect;
} merges[] = {
	{"{}", NULL},
	{"{'status':'paused'}",
	 "{'sink':'https://a.example','source':'/s','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},"
	 "'delivery':{'mode':'binary','rate':5,"
	 "'retry':{'max_attempts':3,'jitter':0.1}},'status':'paused'}"},
	{"{'delivery':{'rate':7,'retry':{'jitter':0.5}}}",
	 "{'sink':'https://a.example','source':'/s','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},"
	 "'delivery':{'mode':'binary','rate':7,"
	 "'retry':{'max_attempts':3,'jitter':0.5}},'status':'active'}"},
	{"{'delivery':{'rate':null,'retry':null,'ordering':'global'}}",
	 "{'sink':'https://a.example','source':'/s','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},"
	 "'delivery':{'mode':'binary','ordering':'global'},'status':'active'}"},
	{"{'source':null,'delivery':null}",
	 "{'sink':'https://a.example','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},'status':'active'}"},
	{"{'types':['x'],'protocolsettings':{'headers':{'B':'2'}},'sink':'http://b.example'}",
	 "{'sink':'http://b.example','source':'/s','types':['x'],"
	 "'protocolsettings':{'headers':{'B':'2'}},"
	 "'delivery':{'mode':'binary','rate':5,"
	 "'retry':{'max_attempts':3,'jitter':0.1}},'status':'active'}"},
	{"{'delivery':'fast'}",
	 "{'sink':'https://a.example','source':'/s','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},"
	 "'delivery':'fast','status':'active'}"},
	{"{'sinks':['http://b.example','http://c.example']}",
	 "{'sinks':['http://b.example','http://c.example'],'source':'/s','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},"
	 "'delivery':{'mode':'binary','rate':5,"
	 "'retry':{'max_attempts':3,'jitter':0.1}},'status':'active'}"},
	{"{'absent':null,'filters':[{'exact':{'type':'a'}}]}",
	 "{'sink':'https://a.example','source':'/s','types':['a','b'],"
	 "'protocolsettings':{'headers':{'A':'1'}},"
	 "'delivery':{'mode':'binary','rate':5,"
	 "'retry':{'max_attempts':3,'jitter':0.1}},'status':'active',"
	 "'filters':[{'exact':{'type':'a'}}]}"},
};

START_TEST(test_merge_patch)
{
	struct herald_error err;
	cJSON *cur = J(MERGE_BASE), *patch = J(merges[_i].patch);
	cJSON *expect = J(merges[_i].expect ? merges[_i].expect : MERGE_BASE);
	cJSON *got = sub_merge_patch(cur, patch, &err);
	char *text;

	ck_assert_ptr_nonnull(got);
	text = cJSON_PrintUnformatted(got);
	ck_assert_msg(cJSON_Compare(got, expect, true), "got %s", text);
	free(text);
	/* current is not modified */
	cJSON_Delete(expect);
	expect = J(MERGE_BASE);
	ck_assert(cJSON_Compare(cur, expect, true));
	cJSON_Delete(got);
	cJSON_Delete(expect);
	cJSON_Delete(patch);
	cJSON_Delete(cur);
}
END_TEST

START_TEST(test_merge_patch_flow)
{
	struct subscription s, t;
	struct herald_error err;
	cJSON *stored, *patch, *merged;

	/* a delivery patch on a subscription without delivery fields */
	ck_assert_int_eq(parse_sq(DESIGN_EXAMPLE, &s, &err), 0);
	stored = sub_to_json(&s, true);
	patch = J("{'status':'paused','delivery':{'timeout_ms':2000,'retry':{'max_attempts':2}}}");
	merged = sub_merge_patch(stored, patch, &err);
	ck_assert_int_eq(sub_parse(merged, &t, &err), 0);
	ck_assert_int_eq(t.status, SUB_PAUSED);
	ck_assert_int_eq(t.delivery.timeout_ms, 2000);
	ck_assert_int_eq(t.delivery.retry.max_attempts, 2);
	/* the rest is kept, secret included */
	ck_assert_int_eq(t.delivery.burst, 100);
	ck_assert_int_eq(t.delivery.retry.initial_ms, 5000);
	ck_assert_str_eq(t.access_token, "...");
	ck_assert_uint_eq(t.ntypes, 2);
	sub_free(&t);
	cJSON_Delete(merged);
	cJSON_Delete(patch);

	/* a null sink leaves a body that does not validate */
	patch = J("{'sink':null}");
	merged = sub_merge_patch(stored, patch, &err);
	ck_assert_int_eq(sub_parse(merged, &t, &err), -1);
	ck_assert_str_eq(err.code, "missing_field");
	cJSON_Delete(merged);
	cJSON_Delete(patch);

	/* a group back to one sink; both at once is refused */
	patch = J("{'sinks':['http://a.example','http://b.example']}");
	merged = sub_merge_patch(stored, patch, &err);
	cJSON_Delete(patch);
	patch = J("{'sink':'http://c.example'}");
	cJSON_Delete(stored);
	stored = sub_merge_patch(merged, patch, &err);
	ck_assert_int_eq(sub_parse(stored, &t, &err), 0);
	ck_assert_str_eq(t.sink, "http://c.example/");
	ck_assert_uint_eq(t.nsinks, 0);
	sub_free(&t);
	cJSON_Delete(merged);
	cJSON_Delete(patch);
	patch = J("{'sink':'http://c.example','sinks':['http://d.example']}");
	ck_assert_ptr_null(sub_merge_patch(stored, patch, &err));
	ck_assert_str_eq(err.field, "sinks");
	cJSON_Delete(patch);

	/* delivery merged into a body that has none */
	patch = J("{'delivery':{'rate':3,'retry':{'jitter':null}}}");
	merged = sub_merge_patch(NULL, patch, &err);
	cJSON_Delete(patch);
	patch = J("{'delivery':{'rate':3,'retry':{}}}");
	ck_assert(cJSON_Compare(merged, patch, true));
	cJSON_Delete(merged);
	cJSON_Delete(patch);

	/* patch must be an object */
	patch = J("[]");
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(sub_merge_patch(stored, patch, &err));
	ck_assert_str_eq(err.code, "invalid_field");
	cJSON_Delete(patch);
	ck_assert_ptr_null(sub_merge_patch(stored, NULL, &err));

	cJSON_Delete(stored);
	sub_free(&s);
}
END_TEST

/* ---- filter compilation errors ---- */

static const struct {
	const char *filters;
	const char *field;
} filter_errors[] = {
	{"{}", "filters"},
	{"'x'", "filters"},
	{"[1]", "filters[0]"},
	{"[null]", "filters[0]"},
	{"[{}]", "filters[0]"},
	{"[{'':{}}]", "filters[0]"},
	{"[{'exact':{'a':'b'},'prefix':{'a':'b'}}]", "filters[0]"},
	{"[{'exact':{'a':'b'},'exact':{'a':'b'}}]", "filters[0]"},
	{"[{'sql':'a ='}]", "filters[0].sql"},
	{"[{'regex':{'a':'b'}}]", "filters[0].regex"},
	{"[{'EXACT':{'a':'b'}}]", "filters[0].EXACT"},
	{"[{'exact':'x'}]", "filters[0].exact"},
	{"[{'exact':[]}]", "filters[0].exact"},
	{"[{'exact':{}}]", "filters[0].exact"},
	{"[{'exact':{'a':'b','c':'d'}}]", "filters[0].exact"},
	{"[{'exact':{'a':'b','a':'c'}}]", "filters[0].exact"},
	{"[{'exact':{'Subject':'x'}}]", "filters[0].exact"},
	{"[{'exact':{'':'x'}}]", "filters[0].exact"},
	{"[{'exact':{'sub-ject':'x'}}]", "filters[0].exact"},
	{"[{'exact':{'a':null}}]", "filters[0].exact"},
	{"[{'prefix':{'subject':''}}]", "filters[0].prefix"},
	{"[{'suffix':{'subject':1}}]", "filters[0].suffix"},
	{"[{'exact':{'a':'b'}},{'not':{'exact':{'a':1}}}]", "filters[1].not.exact"},
	{"[{'all':[]}]", "filters[0].all"},
	{"[{'any':{}}]", "filters[0].any"},
	{"[{'any':'x'}]", "filters[0].any"},
	{"[{'all':[{'exact':{'a':'b'}},{'nope':{}}]}]", "filters[0].all[1].nope"},
	{"[{'not':[]}]", "filters[0].not"},
	{"[{'not':{}}]", "filters[0].not"},
	{"[{'not':{'any':[{'exact':{'a':'b'}},2]}}]", "filters[0].not.any[1]"},
	{"[{'exact':{'a':'b'}},{'exact':{'a':'b'}},{'any':[{'all':[{'suffix':{'x':''}}]}]}]",
	 "filters[2].any[0].all[0].suffix"},
};

START_TEST(test_filter_errors)
{
	struct herald_error err;
	struct filter *f = (struct filter *)&err; /* must be reset to NULL */
	cJSON *j = J(filter_errors[_i].filters);

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(filter_compile(j, &f, &err), -1);
	ck_assert_ptr_null(f);
	ck_assert_str_eq(err.code, "invalid_filter");
	ck_assert_str_eq(err.field, filter_errors[_i].field);
	ck_assert(err.message[0] != '\0');
	cJSON_Delete(j);
}
END_TEST

/* {"not": ... n times ... {"exact": {"a": "b"}}} inside a filters array */
static cJSON *
nested_nots(int n)
{
	cJSON *e = cJSON_CreateObject(), *arr;
	int i;

	cJSON_AddItemToObject(cJSON_AddObjectToObject(e, "exact"), "a",
			      cJSON_CreateString("b"));
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "not", e);
		e = o;
	}
	arr = cJSON_CreateArray();
	cJSON_AddItemToArray(arr, e);
	return arr;
}

START_TEST(test_filter_depth)
{
	struct cloudevent ev;
	struct herald_error err;
	struct filter *f;
	cJSON *j;

	/* 31 nots + exact = depth 32: fine; odd count negates */
	make_event("{'a':'b'}", &ev);
	j = nested_nots(31);
	ck_assert_int_eq(filter_compile(j, &f, &err), 0);
	ck_assert(!filter_match(f, &ev, NULL));
	filter_free(f);
	cJSON_Delete(j);
	j = nested_nots(30);
	ck_assert_int_eq(filter_compile(j, &f, &err), 0);
	ck_assert(filter_match(f, &ev, NULL));
	filter_free(f);
	cJSON_Delete(j);
	cJSON_Delete(ev.attrs);

	j = nested_nots(32);
	ck_assert_int_eq(filter_compile(j, &f, &err), -1);
	ck_assert_ptr_null(f);
	ck_assert_str_eq(err.code, "invalid_filter");
	ck_assert(strncmp(err.field, "filters[0].not.not.not", 22) == 0);
	cJSON_Delete(j);
}
END_TEST

/* ---- filter evaluation ---- */

static const struct {
	const char *filters;
	const char *event; /* NULL: EVENT_FULL */
	bool match;
} filter_cases[] = {
	{"[]", NULL, true},
	{"null", NULL, true},
	/* exact */
	{"[{'exact':{'subject':'eu/orders/42'}}]", NULL, true},
	{"[{'exact':{'subject':'eu/orders/4'}}]", NULL, false},
	{"[{'exact':{'subject':'eu/orders/421'}}]", NULL, false},
	{"[{'exact':{'subject':'EU/orders/42'}}]", NULL, false},
	{"[{'exact':{'type':'com.example.orderPlaced'}}]", NULL, true},
	{"[{'exact':{'id':'A-1'}}]", NULL, true},
	{"[{'exact':{'specversion':'1.0'}}]", NULL, true},
	{"[{'exact':{'region':'eu'}}]", NULL, false},
	{"[{'exact':{'subject':'eu/orders/42'}}]", "min", false},
	/* prefix */
	{"[{'prefix':{'subject':'eu/'}}]", NULL, true},
	{"[{'prefix':{'subject':'e'}}]", NULL, true},
	{"[{'prefix':{'subject':'eu/orders/42'}}]", NULL, true},
	{"[{'prefix':{'subject':'eu/orders/42/'}}]", NULL, false},
	{"[{'prefix':{'subject':'us/'}}]", NULL, false},
	{"[{'prefix':{'subject':'EU/'}}]", NULL, false},
	{"[{'prefix':{'region':'e'}}]", NULL, false},
	{"[{'prefix':{'subject':'eu/'}}]", "min", false},
	/* suffix */
	{"[{'suffix':{'subject':'/42'}}]", NULL, true},
	{"[{'suffix':{'subject':'2'}}]", NULL, true},
	{"[{'suffix':{'subject':'eu/orders/42'}}]", NULL, true},
	{"[{'suffix':{'subject':'x/eu/orders/42'}}]", NULL, false},
	{"[{'suffix':{'subject':'/4'}}]", NULL, false},
	{"[{'suffix':{'type':'Placed'}}]", NULL, true},
	{"[{'suffix':{'type':'placed'}}]", NULL, false},
	{"[{'suffix':{'region':'u'}}]", NULL, false},
	/* extensions: integers and booleans compare by their string form */
	{"[{'exact':{'channel':'live'}}]", NULL, true},
	{"[{'exact':{'priority':'5'}}]", NULL, true},
	{"[{'exact':{'priority':'05'}}]", NULL, false},
	{"[{'exact':{'priority':'5.0'}}]", NULL, false},
	{"[{'prefix':{'priority':'5'}}]", NULL, true},
	{"[{'exact':{'neg':'-3'}}]", NULL, true},
	{"[{'suffix':{'neg':'3'}}]", NULL, true},
	{"[{'prefix':{'neg':'-'}}]", NULL, true},
	{"[{'exact':{'urgent':'true'}}]", NULL, true},
	{"[{'exact':{'urgent':'True'}}]", NULL, false},
	{"[{'exact':{'quiet':'false'}}]", NULL, true},
	{"[{'suffix':{'quiet':'se'}}]", NULL, true},
	{"[{'exact':{'partitionkey':'cust-7'}}]", NULL, true},
	/* not, and missing attributes under not */
	{"[{'not':{'exact':{'channel':'test'}}}]", NULL, true},
	{"[{'not':{'exact':{'channel':'live'}}}]", NULL, false},
	{"[{'not':{'exact':{'region':'eu'}}}]", NULL, true},
	{"[{'not':{'prefix':{'region':'eu'}}}]", NULL, true},
	{"[{'not':{'suffix':{'region':'eu'}}}]", NULL, true},
	{"[{'not':{'not':{'exact':{'region':'eu'}}}}]", NULL, false},
	/* all / any */
	{"[{'all':[{'prefix':{'subject':'eu/'}},{'exact':{'channel':'live'}}]}]", NULL, true},
	{"[{'all':[{'prefix':{'subject':'eu/'}},{'exact':{'channel':'test'}}]}]", NULL, false},
	{"[{'all':[{'exact':{'priority':'5'}}]}]", NULL, true},
	{"[{'any':[{'exact':{'channel':'x'}},{'exact':{'channel':'y'}}]}]", NULL, false},
	{"[{'any':[{'exact':{'channel':'x'}},{'exact':{'channel':'live'}}]}]", NULL, true},
	{"[{'any':[{'exact':{'region':'x'}}]}]", NULL, false},
	{"[{'not':{'any':[{'exact':{'channel':'x'}},{'exact':{'channel':'y'}}]}}]", NULL, true},
	{"[{'not':{'all':[{'exact':{'channel':'live'}},{'exact':{'urgent':'true'}}]}}]", NULL, false},
	{"[{'any':[{'all':[{'exact':{'channel':'x'}},{'exact':{'urgent':'true'}}]},"
	 "{'all':[{'suffix':{'subject':'/42'}},{'not':{'exact':{'quiet':'true'}}}]}]}]", NULL, true},
	{"[{'any':[{'all':[{'exact':{'channel':'x'}},{'exact':{'urgent':'true'}}]},"
	 "{'all':[{'suffix':{'subject':'/42'}},{'not':{'exact':{'quiet':'false'}}}]}]}]", NULL, false},
	/* several entries: every one must hold */
	{"[{'prefix':{'subject':'eu/'}},{'exact':{'channel':'live'}}]", NULL, true},
	{"[{'prefix':{'subject':'eu/'}},{'exact':{'channel':'test'}}]", NULL, false},
	{"[{'exact':{'channel':'test'}},{'prefix':{'subject':'eu/'}}]", NULL, false},
	/* the DESIGN.md example filters */
	{"[{'prefix':{'subject':'eu/'}},{'not':{'exact':{'channel':'test'}}}]", NULL, true},
	{"[{'prefix':{'subject':'eu/'}},{'not':{'exact':{'channel':'test'}}}]", "test", false},
	{"[{'prefix':{'subject':'eu/'}},{'not':{'exact':{'channel':'test'}}}]", "min", false},
};

static const char *
event_named(const char *name)
{
	if (name == NULL)
		return EVENT_FULL;
	if (strcmp(name, "min") == 0)
		return EVENT_MIN;
	return EVENT_TEST;
}

START_TEST(test_filter_match)
{
	struct cloudevent ev;
	struct herald_error err;
	struct filter *f;
	cJSON *j = J(filter_cases[_i].filters);

	make_event(event_named(filter_cases[_i].event), &ev);
	ck_assert_int_eq(filter_compile(j, &f, &err), 0);
	ck_assert_msg(filter_match(f, &ev, NULL) == filter_cases[_i].match,
		      "%s on %s", filter_cases[_i].filters,
		      filter_cases[_i].event ? filter_cases[_i].event : "full");
	filter_free(f);
	cJSON_Delete(j);
	cJSON_Delete(ev.attrs);
}
END_TEST

/* ---- sub_matches ---- */

static const struct {
	const char *body;
	const char *event;
	bool match;
} match_cases[] = {
	{"{'sink':'https://a.example'}", NULL, true},
	{"{'sink':'https://a.example'}", "min", true},
	{"{'sink':'https://a.example','source':'/order/v1'}", NULL, true},
	{"{'sink':'https://a.example','source':'/order'}", NULL, false},
	{"{'sink':'https://a.example','source':'/order/v1/'}", NULL, false},
	{"{'sink':'https://a.example','source':'/Order/v1'}", NULL, false},
	{"{'sink':'https://a.example','types':[]}", NULL, true},
	{"{'sink':'https://a.example','types':['x','com.example.orderPlaced']}", NULL, true},
	{"{'sink':'https://a.example','types':['com.example.orderPlaced']}", "min", false},
	{"{'sink':'https://a.example','types':['com.example.order']}", NULL, false},
	{"{'sink':'https://a.example','filters':[{'exact':{'channel':'live'}}]}", NULL, true},
	{"{'sink':'https://a.example','filters':[{'exact':{'channel':'live'}}]}", "test", false},
	{NULL, NULL, true},
	{NULL, "test", false},
	{NULL, "min", false},
	{"{'sink':'https://a.example','source':'/other','filters':[{'exact':{'channel':'live'}}]}", NULL, false},
};

START_TEST(test_sub_matches)
{
	struct subscription s;
	struct herald_error err;
	struct cloudevent ev;
	const char *body = match_cases[_i].body ? match_cases[_i].body
						: DESIGN_EXAMPLE;

	ck_assert_int_eq(parse_sq(body, &s, &err), 0);
	make_event(event_named(match_cases[_i].event), &ev);
	ck_assert_msg(sub_matches(&s, &ev, NULL) == match_cases[_i].match, "case %d", _i);
	cJSON_Delete(ev.attrs);
	sub_free(&s);
}
END_TEST

/* ---- ordering keys ---- */

static const struct {
	const char *ordering;
	const char *event;
	const char *key; /* NULL: unordered */
} key_cases[] = {
	{"partitionkey", NULL, "cust-7"},
	{"partitionkey", "min", NULL},
	{"subject", NULL, "eu/orders/42"},
	{"subject", "min", NULL},
	{"none", NULL, NULL},
	{"global", NULL, ""},
	{"global", "min", ""},
	{NULL, NULL, "cust-7"}, /* default is partitionkey */
};

START_TEST(test_ordering_key)
{
	struct subscription s;
	struct herald_error err;
	struct cloudevent ev;
	char body[256];
	const char *key;

	if (key_cases[_i].ordering)
		snprintf(body, sizeof(body),
			 "{'sink':'https://a.example','delivery':{'ordering':'%s'}}",
			 key_cases[_i].ordering);
	else
		snprintf(body, sizeof(body), "{'sink':'https://a.example'}");
	ck_assert_int_eq(parse_sq(body, &s, &err), 0);
	make_event(event_named(key_cases[_i].event), &ev);
	key = sub_ordering_key(&s, &ev);
	if (key_cases[_i].key == NULL)
		ck_assert_ptr_null(key);
	else
		ck_assert_str_eq(key, key_cases[_i].key);
	cJSON_Delete(ev.attrs);
	sub_free(&s);
}
END_TEST

/* ---- status names ---- */

static const struct {
	const char *name;
	bool ok;
	enum sub_status status;
} statuses[] = {
	{"active", true, SUB_ACTIVE},
	{"paused", true, SUB_PAUSED},
	{"disabled", true, SUB_DISABLED},
	{"Active", false, SUB_ACTIVE},
	{"", false, SUB_ACTIVE},
	{"enabled", false, SUB_ACTIVE},
	{NULL, false, SUB_ACTIVE},
};

START_TEST(test_status)
{
	enum sub_status st = (enum sub_status)99;
	bool ok = sub_status_parse(statuses[_i].name, &st);

	ck_assert_int_eq(ok, statuses[_i].ok);
	if (ok) {
		ck_assert_int_eq(st, statuses[_i].status);
		ck_assert_str_eq(sub_status_name(st), statuses[_i].name);
	} else {
		ck_assert_int_eq(st, 99);
	}
}
END_TEST

START_TEST(test_free_zeroed)
{
	struct subscription s;
	struct herald_error err;

	memset(&s, 0, sizeof(s));
	sub_free(&s);
	sub_free(NULL);
	ck_assert_int_eq(parse_sq(DESIGN_EXAMPLE, &s, &err), 0);
	sub_free(&s);
	ck_assert_ptr_null(s.sink);
	ck_assert_ptr_null(s.source);
	ck_assert_ptr_null(s.types);
	ck_assert_uint_eq(s.ntypes, 0);
	ck_assert_ptr_null(s.filters);
	ck_assert_ptr_null(s.filter);
	ck_assert_ptr_null(s.headers);
	ck_assert_uint_eq(s.nheaders, 0);
	ck_assert_ptr_null(s.access_token);
	ck_assert_ptr_null(s.config);
	sub_free(&s); /* twice is harmless */
	filter_free(NULL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
subscription_suite(void)
{
	Suite *s = suite_create("subscription");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_valid_roundtrip, 0, N(valid_bodies));
	tcase_add_test(tc, test_design_example);
	tcase_add_test(tc, test_defaults);
	tcase_add_loop_test(tc, test_derived_defaults, 0, N(derived_defaults));
	tcase_add_loop_test(tc, test_invalid_body, 0, N(invalid_bodies));
	tcase_add_test(tc, test_limits);
	tcase_add_loop_test(tc, test_sink, 0, N(sinks));
	tcase_add_test(tc, test_sink_userinfo_message);
	tcase_add_test(tc, test_free_zeroed);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_loop_test(tc, test_merge_patch, 0, N(merges));
	tcase_add_test(tc, test_merge_patch_flow);
	suite_add_tcase(s, tc);

	tc = tcase_create("filter");
	tcase_add_loop_test(tc, test_filter_errors, 0, N(filter_errors));
	tcase_add_test(tc, test_filter_depth);
	tcase_add_loop_test(tc, test_filter_match, 0, N(filter_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_loop_test(tc, test_sub_matches, 0, N(match_cases));
	tcase_add_loop_test(tc, test_ordering_key, 0, N(key_cases));
	tcase_add_loop_test(tc, test_status, 0, N(statuses));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(subscription_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
