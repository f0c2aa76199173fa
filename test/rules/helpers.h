/*
 * test/rules/helpers.h - shared by the rules tests: load a config text with
 * fixed params (hostname mx.test, base folder /base) and return either the
 * config or the formatted error.
 */
#ifndef TEST_RULES_HELPERS_H
#define TEST_RULES_HELPERS_H

#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

static const struct rules_load_params helper_params = {
	.hostname = "mx.test",
	.base_dir = "/base",
};

/* Load text as "t.conf"; on failure *msg holds "t.conf:L:C: message". */
static inline struct rules_config *
helper_load(const char *text, char *msg, size_t cap)
{
	struct rules_error err;
	struct rules_config *c = rules_load_string("t.conf", text, &helper_params, &err);

	msg[0] = '\0';
	if (c == NULL)
		rules_error_format(&err, msg, cap);
	return c;
}

#endif
