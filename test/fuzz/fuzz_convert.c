/*
 * test/fuzz/fuzz_convert.c - libFuzzer target for rules/convert.c: the
 * input is a config in the old or the modern grammar. A failure carries a
 * message that formats in bounds; a success gives a terminated text
 * without NUL, at least one "# not converted" line per note, and a text
 * that converts again to itself with nothing left to convert (the output
 * is modern). The output is then loaded, confined (fuzz_rules.h), to run
 * the loader on what the converter writes.
 */
#include <stdint.h>

#include "rules/convert.h"
#include "test/fuzz/fuzz_rules.h"

/* Lines of text that start with prefix. */
static unsigned
fuzz_count_lines(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	unsigned count = 0;
	const char *p;

	for (p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		count += strncmp(p, prefix, n) == 0;
	return count;
}

/* The output converts to itself, and loads or fails properly. */
static void
fuzz_check_output(const struct rules_conversion *cv)
{
	struct rules_conversion again;
	struct rules_config *c;
	struct rules_error err;

	if (cv->text == NULL || cv->text[cv->len] != '\0' || strlen(cv->text) != cv->len)
		abort();
	if (fuzz_count_lines(cv->text, "# not converted: ") < cv->nnotes)
		abort();
	if (rules_convert_string("out.conf", cv->text, cv->len, &again, &err) < 0)
		abort();
	if (again.nnotes != 0 || again.old_line != 0 || again.len != cv->len ||
	    memcmp(again.text, cv->text, cv->len) != 0)
		abort();
	rules_conversion_free(&again);
	c = rules_load_string("out.conf", cv->text, &fuzz_params, &err);
	if (c == NULL)
		fuzz_check_error(&err);
	else
		rules_free(c);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_make_dir();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_conversion cv;
	struct rules_error err;

	if (rules_convert_string("fuzz.conf", (const char *)data, size, &cv, &err) < 0) {
		fuzz_check_error(&err);
		if (cv.text != NULL || cv.nnotes != 0)
			abort();
		return 0;
	}
	fuzz_check_output(&cv);
	rules_conversion_free(&cv);
	return 0;
}
