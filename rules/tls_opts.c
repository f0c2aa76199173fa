/*
 * rules/tls_opts.c - the values of smtpd.conf's `protocols` and `ciphers`
 * (on listeners, relay actions and `smtp ciphers`), in OpenSMTPD's (that
 * is libtls's) forms, turned into what core/tls.c applies. Pure: no I/O,
 * no allocation; whether the TLS library knows a cipher is asked by the
 * loader through rules_load_params.tls_check. See rules.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules/rules.h"

#define TLS_WORD_BYTES_MAX 32

/* One word of a protocols string: its versions, or 0 when unknown. */
static unsigned
tls_protocol_word(const char *w)
{
	static const struct {
		const char *name;
		unsigned mask;
	} words[] = {
		{ "tlsv1.0", RULES_TLS_V1_0 }, { "tlsv1.1", RULES_TLS_V1_1 },
		{ "tlsv1.2", RULES_TLS_V1_2 }, { "tlsv1.3", RULES_TLS_V1_3 },
		{ "tlsv1", RULES_TLS_V1_0 | RULES_TLS_V1_1 | RULES_TLS_V1_2 },
		{ "all", RULES_TLS_PROTOCOLS_ALL }, { "legacy", RULES_TLS_PROTOCOLS_ALL },
		{ "secure", RULES_TLS_PROTOCOLS_DEFAULT }, { "default", RULES_TLS_PROTOCOLS_DEFAULT },
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcasecmp(w, words[i].name) == 0)
			return words[i].mask;
	return 0;
}

int
rules_tls_protocols_parse(const char *s, unsigned *mask, char *why, size_t cap)
{
	unsigned protos = 0;
	int any = 0;

	while (*s != '\0') {
		char w[TLS_WORD_BYTES_MAX];
		size_t n = strcspn(s, ",:");
		const char *p = s;
		int negate = 0;
		s += n + (s[n] != '\0');
		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0 && *p == '!') {
			negate = 1;
			p++, n--;
			if (!any)
				protos = RULES_TLS_PROTOCOLS_ALL;   /* "!tlsv1.3" = all but it */
		}
		if (n == 0 && !negate)
			continue;   /* "tlsv1.2,,tlsv1.3" */
		if (n == 0 || n >= sizeof w) {
			snprintf(why, cap, "invalid protocol \"%.*s\"", (int)(n < 40 ? n : 40), p);
			return -1;
		}
		memcpy(w, p, n);
		w[n] = '\0';
		unsigned v = tls_protocol_word(w);
		if (v == 0) {
			snprintf(why, cap, "unknown protocol \"%s\" (tlsv1.0, tlsv1.1, tlsv1.2, "
			         "tlsv1.3, all, secure, default, legacy; ',' or ':' between them)", w);
			return -1;
		}
		protos = negate ? protos & ~v : protos | v;
		any = 1;
	}
	if (protos == 0) {
		snprintf(why, cap, "no protocol left");
		return -1;
	}
	/* the library takes a lowest and a highest version, nothing between */
	unsigned low = protos & -protos, full = 0;
	for (unsigned b = low; b <= protos && b != 0; b <<= 1)
		full |= b;
	if ((full & RULES_TLS_PROTOCOLS_ALL) != protos) {
		snprintf(why, cap, "protocols must be consecutive versions (no gap between "
		         "the lowest and the highest)");
		return -1;
	}
	*mask = protos;
	return 0;
}

int
rules_tls_ciphers_parse(const char *s, char *out, size_t cap, char *why, size_t wcap)
{
	static const struct {
		const char *name, *list;
	} aliases[] = {
		{ "secure", "" }, { "default", "" },     /* the library's default */
		{ "compat", "HIGH:!aNULL" }, { "legacy", "HIGH:MEDIUM:!aNULL" },
		{ "insecure", "ALL:!aNULL:!eNULL" }, { "all", "ALL:!aNULL:!eNULL" },
	};
	size_t len = strlen(s);

	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcasecmp(s, aliases[i].name) == 0) {
			snprintf(out, cap, "%s", aliases[i].list);
			return 0;
		}
	}
	if (len == 0) {
		snprintf(why, wcap, "empty cipher list");
		return -1;
	}
	if (len >= cap) {
		snprintf(why, wcap, "cipher list too long (at most %zu bytes)", cap - 1);
		return -1;
	}
	size_t bad = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                       "0123456789:+!-_.@=,");
	if (bad != len) {
		snprintf(why, wcap, "invalid character '%c' in a cipher list", s[bad]);
		return -1;
	}
	memcpy(out, s, len + 1);
	return 0;
}
