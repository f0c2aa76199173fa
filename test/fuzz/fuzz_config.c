/*
 * test/fuzz/fuzz_config.c - libFuzzer target for rules/ (lexer, parser,
 * checker, compiler): the input is an smtpd.conf given to
 * rules_load_string(), confined to a scratch folder (fuzz_rules.h).
 * A failure must carry a message and format, short and long (the caret),
 * into buffers of any size without reading or writing out of bounds; a
 * success gives a config whose warnings format, whose runtime check and a
 * match answer, and that rules_free() frees (LeakSanitizer sees the rest).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>

#include "test/fuzz/fuzz_rules.h"

/* Walk what a loaded config offers to its users. */
static void
fuzz_use_config(const struct rules_config *c)
{
	static char line[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 128];
	const struct rules_action *action;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct rules_query q = {
		.local = 0, .src = (const struct sockaddr *)&sin, .listener_tag = "",
		.mail_from = "bob@one.example", .rcpt = "root@two.example",
	};
	struct rules_error err;
	unsigned i, n = c->nwarnings + c->nunsupported, at;

	for (i = 0; rules_warning_format(c, i, line, sizeof line); i++)
		if (i >= n || !fuzz_terminated(line, sizeof line))
			abort();
	if (i != n)
		abort();
	if (rules_runtime_check(c, &err) < 0)
		fuzz_check_error(&err);
	sin.sin_addr.s_addr = htonl(0xc0000201);  /* 192.0.2.1 */
	if (rules_match(c, &q, &action, &at) == RULES_ACCEPT && action == NULL)
		abort();
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
	struct rules_config *c;
	struct rules_error err;
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	c = rules_load_string("fuzz.conf", text, &fuzz_params, &err);
	if (c == NULL) {
		fuzz_check_error(&err);
	} else {
		fuzz_use_config(c);
		rules_free(c);
	}
	free(text);
	return 0;
}
