/*
 * test/fuzz/fuzz_aliases.c - libFuzzer target for rules/aliases.c: the
 * input is the text of an :include: file and of every ~/.forward at once,
 * named by an alias table of a fixed config, and the first line also an
 * address to expand. Users are the names starting with 'u' (or "root"),
 * "t" answers tempfail. Checks: the call returns 0 with at least one
 * delivery, each with a known kind, an action, terminated strings and no
 * duplicate, or -1 with a 4xx/5xx code, a status of the same class and a
 * reason; and the same input gives the same answer twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"

static const char fuzz_aliases_conf[] =
	"table aliases { x = \":include:/fuzz\", root = ux, list = \"u1, u2, x, y@b.test\", "
	"y = \"|/bin/cat, /tmp/f, error:550 no\" }\n"
	"table virtuals { \"@v.test\" = x, \"u1@v.test\" = list }\n"
	"action \"local\" maildir alias <aliases>\n"
	"action \"virt\" maildir virtual <virtuals>\n"
	"action \"fwd\" forward-only alias <aliases>\n"
	"action \"out\" relay\n"
	"match for domain a.test action \"local\"\n"
	"match for domain v.test action \"virt\"\n"
	"match for domain f.test action \"fwd\"\n"
	"match for domain r.test reject\n"
	"match for any action \"out\"\n";

static struct rules_config *fuzz_c;
static const char *fuzz_text;

static enum rules_verdict
fuzz_match(void *arg, const char *rcpt, const struct rules_action **action, unsigned *line)
{
	struct rules_query q = { .local = 1, .mail_from = "", .rcpt = rcpt };
	(void)arg;
	return rules_match(fuzz_c, &q, action, line);
}

static int
fuzz_user(void *arg, const struct rules_action *a, const char *user)
{
	(void)arg;
	(void)a;
	if (strcmp(user, "t") == 0)
		return -1;
	return user[0] == 'u' || strcmp(user, "root") == 0;
}

static int
fuzz_include(void *arg, const char *path, char **text)
{
	(void)arg;
	if (strcmp(path, "/fuzz") != 0)
		return -1;
	*text = strdup(fuzz_text);
	return *text ? 0 : -1;
}

static int
fuzz_forward(void *arg, const struct rules_action *a, const char *user, char **text)
{
	(void)arg;
	(void)a;
	if (user[0] == 'u' && user[1] == 'n')
		return 0;            /* "un...": no .forward */
	*text = strdup(fuzz_text);
	return *text ? 1 : -1;
}

static const struct rules_alias_ops fuzz_ops = {
	.match = fuzz_match, .user_exists = fuzz_user,
	.read_include = fuzz_include, .read_forward = fuzz_forward,
};

/* Expand rcpt; a digest of the answer for the determinism check. */
static unsigned long
fuzz_expand(const char *rcpt)
{
	struct rules_query q = { .local = 1, .mail_from = "", .rcpt = rcpt };
	const struct rules_action *a = NULL;
	unsigned line = 0;
	struct rules_alias_result res;
	unsigned long h = 5381;

	if (rules_match(fuzz_c, &q, &a, &line) != RULES_ACCEPT)
		return 0;
	if (rules_aliases_expand(fuzz_c, rcpt, a, &fuzz_ops, &res) < 0) {
		if (res.code < 400 || res.code > 599 || res.status[0] != (char)('0' + res.code / 100) ||
		    memchr(res.text, '\0', sizeof res.text) == NULL || res.why[0] == '\0' ||
		    res.dests != NULL)
			abort();
		return res.code;
	}
	if (res.ndests == 0 || res.nodes > RULES_ALIAS_NODES_MAX)
		abort();
	for (unsigned i = 0; i < res.ndests; i++) {
		const struct rules_dest *d = &res.dests[i];
		if (d->kind > RULES_DEST_COMMAND || d->action == NULL ||
		    memchr(d->address, '\0', sizeof d->address) == NULL ||
		    memchr(d->user, '\0', sizeof d->user) == NULL ||
		    memchr(d->exec, '\0', sizeof d->exec) == NULL)
			abort();
		if ((d->kind == RULES_DEST_FILE || d->kind == RULES_DEST_COMMAND) && d->exec[0] == '\0')
			abort();
		for (unsigned j = 0; j < i; j++)
			if (memcmp(d, &res.dests[j], sizeof *d) == 0)
				abort();
		for (const char *p = d->address; *p; p++)
			h = h * 33 + (unsigned char)*p;
		h = h * 33 + d->kind;
	}
	rules_alias_result_free(&res);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpts[] = { "x@a.test", "list@a.test", "un@a.test",
	                                     "u1@v.test", "any@v.test", "x@f.test", "root@a.test" };
	char *text, rcpt[300];
	struct rules_error err;

	if (fuzz_c == NULL) {
		struct rules_load_params p = { .hostname = "mx.test", .base_dir = "/" };
		fuzz_c = rules_load_string("fuzz.conf", fuzz_aliases_conf, &p, &err);
		if (fuzz_c == NULL)
			abort();
	}
	if (size > 65536 || (text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_text = text;
	size_t first = strcspn(text, "\n");
	snprintf(rcpt, sizeof rcpt, "%.*s", (int)(first < 290 ? first : 290), text);
	for (unsigned i = 0; i < sizeof rcpts / sizeof rcpts[0]; i++)
		if (fuzz_expand(rcpts[i]) != fuzz_expand(rcpts[i]))
			abort();
	if (strchr(rcpt, '@') != NULL && fuzz_expand(rcpt) != fuzz_expand(rcpt))
		abort();
	free(text);
	return 0;
}
