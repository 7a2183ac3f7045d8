/* The key in a JSON body, found without building a tree
 * (lib/server/body_key.c): what LibreChat sends, and what a hostile
 * client might. */
#include <config.h>

#include "server/body_key.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[] = { "LIBRECHAT_CODE_API_KEY", "api_key", "apiKey" };

/* find(JSON): the key found in it, or NULL; freed at the next call */
static const char *
find(const char *json)
{
	static char *last;

	free(last);
	last = kcr_body_key_find(json, strlen(json), names, 3);
	return last;
}

static int
test_found(void)
{
	TAP_STREQ(find("{\"lang\":\"py\",\"code\":\"print(1)\",\"LIBRECHAT_CODE_API_KEY\":\"sk-1\"}"),
		  "sk-1");
	/* after nested values of every kind, and with whitespace */
	TAP_STREQ(find(" {\n \"files\" : [ {\"id\": \"a\", \"n\": [1, 2.5e3, null]} ],\n"
		       " \"ok\": true, \"o\": {\"api_key\": \"inner\"}, \"apiKey\" : \"sk-2\" }"),
		  "sk-2");
	/* escapes in strings, names and the key */
	TAP_STREQ(find("{\"code\":\"a\\\"b\\\\\\\"}\",\"api\\u005fkey\":\"sk\\u002d3\\/x\"}"),
		  "sk-3/x");
	/* the first of the names that appears */
	TAP_STREQ(find("{\"api_key\":\"first\",\"apiKey\":\"second\"}"), "first");
	return 0;
}

static int
test_not_found(void)
{
	const char *bad[] = {
		"",
		"[\"api_key\", \"sk\"]",
		"{\"api_key\": 42}",
		"{\"o\": {\"api_key\": \"nested only\"}}",
		"{\"code\": \"unterminated",
		"{\"a\" 1, \"api_key\": \"after a syntax error\"}",
		"{\"api_key\": \"sk-\\u00e9\"}", /* not ASCII: no key holds it */
		"{\"api_key\": \"ctl\x01\"}",
		"{\"api_key\": \"sk-1\"", /* unterminated object: the key came whole */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad) - 1; i++)
		if (find(bad[i]) != NULL)
			TAP_FAIL("found '%s' in %s", find(bad[i]), bad[i]);
	TAP_STREQ(find(bad[8]), "sk-1");
	return 0;
}

/* 100 levels of nesting before the key: the scan stops (no recursion,
 * no unbounded depth). */
static int
test_deep(void)
{
	char json[512] = "{\"x\":";
	size_t n = strlen(json);

	for (int i = 0; i < 100; i++)
		json[n++] = '[';
	for (int i = 0; i < 100; i++)
		json[n++] = ']';
	strcpy(json + n, ",\"api_key\":\"deep\"}");
	TAP_ASSERT(find(json) == NULL);
	return 0;
}

int
main(void)
{
	TAP_PLAN(3);
	RUN_TEST(test_found);
	RUN_TEST(test_not_found);
	RUN_TEST(test_deep);
	find("");
	return TAP_DONE();
}
