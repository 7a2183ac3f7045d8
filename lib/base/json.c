#include <config.h>

#include "base/json.h"
#include "base/util.h"

char *
kcr_json_print_free(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (s == NULL)
		kcr_oom();
	return s;
}

const char *
kcr_json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double
kcr_json_num(const cJSON *o, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

uint64_t
kcr_json_u64(const cJSON *o, const char *key, uint64_t def)
{
	double d = kcr_json_num(o, key, -1);

	/* 18446744073709551616.0 is 2^64; the test fails for NaN too */
	return d >= 0 && d < 18446744073709551616.0 ? (uint64_t)d : def;
}

bool
kcr_json_bool(const cJSON *o, const char *key, bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}
