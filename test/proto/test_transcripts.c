/*
 * test/proto/test_transcripts.c - golden SMTP transcripts for
 * proto/smtp_server.c. Each test/proto/transcripts/NAME.in is a client's
 * side of a session; it runs through the machine with the harness's fixed
 * answer policy and what came out (replies, events, bodies) must equal
 * NAME.ref. The same .in files seed the server fuzz corpus.
 *
 * .in format, one item per line:
 *   # comment
 *   @params key=value ...   ext=default|all|NAME,NAME  size_max= rcpt_max=
 *                           errors_max= mails_max= text_line_max= line_max=
 *                           bare=reject|normalize tls=1 auth=MECH,MECH
 *                           auth_plaintext=1
 *   @policy key=value ...   reject_mail= reject_rcpt= data= starttls= body_end=
 *   @whole                  do not check other cuts (STARTTLS drops input)
 *   anything else           sent as is, then CRLF; escapes \r \n \t \0 \\
 *                           \xHH, \{N}c (c N times), and \c at the end of
 *                           a line: no CRLF after it
 * Unless @whole, the run is also fed byte by byte and in 7-octet pieces,
 * and must give the same. Set RINGMTA_REGEN=1 to rewrite the .ref files.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/smtp_server.h"
#include "test/proto/server_harness.h"

#define TRANSCRIPT_DIR "test/proto/transcripts"
#define TRANSCRIPT_BYTES_MAX (1 << 17)

struct transcript {
	struct proto_server_params params;
	struct policy pol;
	int whole;
	char in[TRANSCRIPT_BYTES_MAX];
	size_t len;
	char names[1024];   /* storage for the policy's address strings */
	size_t names_len;
};

static const struct {
	const char *name;
	unsigned bit;
} transcript_exts[] = {
	{ "PIPELINING", PROTO_EXT_PIPELINING }, { "SIZE", PROTO_EXT_SIZE },
	{ "8BITMIME", PROTO_EXT_8BITMIME }, { "STARTTLS", PROTO_EXT_STARTTLS },
	{ "ENHANCEDSTATUSCODES", PROTO_EXT_ENHANCED }, { "DSN", PROTO_EXT_DSN },
	{ "SMTPUTF8", PROTO_EXT_SMTPUTF8 }, { "CHUNKING", PROTO_EXT_CHUNKING },
	{ "BINARYMIME", PROTO_EXT_BINARYMIME }, { "HELP", PROTO_EXT_HELP },
};

/* Parse ext=...: default, all, or names joined by ','. */
static unsigned
transcript_ext(const char *v)
{
	unsigned ext = 0;
	size_t i;

	if (strcmp(v, "default") == 0)
		return 0;
	if (strcmp(v, "all") == 0)
		return PROTO_SERVER_EXT_DEFAULT | PROTO_EXT_DSN | PROTO_EXT_SMTPUTF8 |
		       PROTO_EXT_CHUNKING | PROTO_EXT_BINARYMIME | PROTO_EXT_STARTTLS;
	for (i = 0; i < sizeof(transcript_exts) / sizeof(transcript_exts[0]); i++)
		if (strstr(v, transcript_exts[i].name) != NULL)
			ext |= transcript_exts[i].bit;
	return ext;
}

/* Keep a string for the policy (the .in line buffer is reused). */
static const char *
transcript_keep(struct transcript *t, const char *v)
{
	char *p = t->names + t->names_len;
	size_t n = strlen(v) + 1;

	cr_assert_lt(t->names_len + n, sizeof(t->names));
	memcpy(p, v, n);
	t->names_len += n;
	for (char *c = p; *c != '\0'; c++)
		if (*c == ',')
			*c = ' ';
	return p;
}

/* Apply one "key=value" of @params or @policy. */
static void
transcript_setting(struct transcript *t, const char *key, const char *v, const char *file)
{
	struct proto_server_params *p = &t->params;
	unsigned long long n = strtoull(v, NULL, 10);

	if (strcmp(key, "ext") == 0) p->ext = transcript_ext(v);
	else if (strcmp(key, "size_max") == 0) p->size_max = n;
	else if (strcmp(key, "rcpt_max") == 0) p->rcpt_count_max = (unsigned)n;
	else if (strcmp(key, "errors_max") == 0) p->errors_max = (unsigned)n;
	else if (strcmp(key, "mails_max") == 0) p->mails_max = (unsigned)n;
	else if (strcmp(key, "text_line_max") == 0) p->text_line_bytes_max = n;
	else if (strcmp(key, "line_max") == 0) p->line_bytes_max = n;
	else if (strcmp(key, "bare") == 0)
		p->bare_newline = strcmp(v, "normalize") == 0 ? PROTO_BARE_NORMALIZE : PROTO_BARE_REJECT;
	else if (strcmp(key, "tls") == 0) p->tls = (int)n;
	else if (strcmp(key, "auth") == 0) p->auth_mechs = transcript_keep(t, v);
	else if (strcmp(key, "auth_plaintext") == 0) p->auth_plaintext = (int)n;
	else if (strcmp(key, "reject_mail") == 0) t->pol.reject_mail = transcript_keep(t, v);
	else if (strcmp(key, "reject_rcpt") == 0) t->pol.reject_rcpt = transcript_keep(t, v);
	else if (strcmp(key, "data") == 0) t->pol.data_code = (int)n;
	else if (strcmp(key, "starttls") == 0) t->pol.starttls_code = (int)n;
	else if (strcmp(key, "body_end") == 0) t->pol.body_end_code = (int)n;
	else cr_assert_fail("%s: unknown setting %s", file, key);
}

/* Append one input line with its escapes decoded (and CRLF unless \c). */
static void
transcript_line(struct transcript *t, const char *s)
{
	int crlf = 1;

	while (*s != '\0') {
		char c = *s++;

		if (c == '\\') {
			c = *s++;
			if (c == 'r') c = '\r';
			else if (c == 'n') c = '\n';
			else if (c == 't') c = '\t';
			else if (c == '0') c = '\0';
			else if (c == 'c' && *s == '\0') { crlf = 0; break; }
			else if (c == 'x') { c = (char)strtol((char[]){ s[0], s[1], 0 }, NULL, 16); s += 2; }
			else if (c == '{') {
				char *end;
				unsigned long n = strtoul(s, &end, 10);

				cr_assert(*end == '}' && t->len + n < sizeof(t->in));
				memset(t->in + t->len, end[1], n);
				t->len += n;
				s = end + 2;
				continue;
			}
		}
		cr_assert_lt(t->len + 1, sizeof(t->in));
		t->in[t->len++] = c;
	}
	if (crlf) {
		cr_assert_lt(t->len + 2, sizeof(t->in));
		memcpy(t->in + t->len, "\r\n", 2);
		t->len += 2;
	}
}

/* Read one .in file. */
static void
transcript_load(struct transcript *t, const char *path)
{
	char line[8192], *tok, *save;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s", path);
	memset(t, 0, sizeof(*t));
	t->params = params_default;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#')
			continue;
		if (strcmp(line, "@whole") == 0) {
			t->whole = 1;
		} else if (strncmp(line, "@params ", 8) == 0 || strncmp(line, "@policy ", 8) == 0) {
			for (tok = strtok_r(line + 8, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
				char *eq = strchr(tok, '=');

				cr_assert_not_null(eq, "%s: %s", path, tok);
				*eq = '\0';
				transcript_setting(t, tok, eq + 1, path);
			}
		} else {
			transcript_line(t, line);
		}
	}
	fclose(f);
}

/* Append s to out with escapes: CRLF shown as \r\n and a new line, other
 * control and 8-bit octets as \r, \n or \xHH. */
static size_t
transcript_escape(char *out, size_t max, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 8 < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' && i + 1 < n && s[i + 1] == '\n') {
			o += (size_t)snprintf(out + o, max - o, "\\r\\n\n");
			i++;
		} else if (c == '\r' || c == '\n' || c == '\\') {
			o += (size_t)snprintf(out + o, max - o, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : '\\');
		} else if (c < 32 || c > 126) {
			o += (size_t)snprintf(out + o, max - o, "\\x%02X", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

/* Render a run: replies (CRLF as line ends), events, each body. */
static void
transcript_render(const struct tx *r, char *out, size_t max)
{
	size_t o = 0, i;

	for (i = 0; i < r->out_len && o + 2 < max; i++)
		if (r->out[i] != '\r')
			out[o++] = r->out[i];
	o += (size_t)snprintf(out + o, max - o, "--- events\n%s", r->log);
	for (i = 0; i < r->nbodies; i++) {
		size_t from = i == 0 ? 0 : r->body_ends[i - 1];

		o += (size_t)snprintf(out + o, max - o, "--- body %zu\n", i + 1);
		o += transcript_escape(out + o, max - o, r->body + from, r->body_ends[i] - from);
		if (out[o - 1] != '\n' && o + 2 < max)
			out[o++] = '\n';
	}
	out[o] = '\0';
}

/* Run one transcript and compare with (or write) its .ref. */
static void
transcript_check(const char *name)
{
	static struct transcript t;
	static char got[1 << 20], want[1 << 20], path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), TRANSCRIPT_DIR "/%s.in", name);
	transcript_load(&t, path);
	if (t.whole)
		tx_run(&tx_a, &t.params, &t.pol, t.in, t.len, 0);
	else
		tx_expect_split_invariant(&t.params, &t.pol, t.in, t.len);
	transcript_render(&tx_a, got, sizeof(got));
	snprintf(path, sizeof(path), TRANSCRIPT_DIR "/%s.ref", name);
	if (getenv("RINGMTA_REGEN") != NULL) {
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(got, f);
		fclose(f);
		return;
	}
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s missing (RINGMTA_REGEN=1 writes it)", path);
	n = fread(want, 1, sizeof(want) - 1, f);
	want[n] = '\0';
	fclose(f);
	cr_expect_str_eq(got, want, "%s differs", path);
}

Test(transcripts, every_in_matches_its_ref)
{
	struct dirent *e;
	DIR *d = opendir(TRANSCRIPT_DIR);
	unsigned count = 0;

	cr_assert_not_null(d, "run from the top of the tree");
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char name[256];

		if (n < 4 || strcmp(e->d_name + n - 3, ".in") != 0 || n - 3 >= sizeof(name))
			continue;
		memcpy(name, e->d_name, n - 3);
		name[n - 3] = '\0';
		transcript_check(name);
		count++;
	}
	closedir(d);
	cr_expect_geq(count, 15, "only %u transcripts", count);
}

Test(transcripts, every_ref_has_its_in)
{
	struct dirent *e;
	DIR *d = opendir(TRANSCRIPT_DIR);
	char path[512];

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n < 5 || strcmp(e->d_name + n - 4, ".ref") != 0)
			continue;
		snprintf(path, sizeof(path), TRANSCRIPT_DIR "/%.*s.in", (int)(n - 4), e->d_name);
		cr_expect(access(path, R_OK) == 0, "%s has no .in", e->d_name);
	}
	closedir(d);
}
