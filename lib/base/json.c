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
