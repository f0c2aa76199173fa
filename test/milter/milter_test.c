/*
 * test/milter/milter_test.c - a milter built with Sendmail's libmilter
 * for test/e2e/test_milter.py: what it does is chosen by the client, so
 * one process serves every case.
 *
 *   client 127.0.0.2           reject at connect
 *   HELO reject.helo           reject at helo
 *   MAIL FROM reject-mail@     reject; tempfail-mail@ tempfail;
 *                              code-mail@ "554 5.7.9 Mail code"; hang-mail@
 *                              never answers; accept-mail@ accept (no
 *                              more calls for the message)
 *   RCPT TO reject-rcpt@       reject that recipient only
 *   MAIL FROM reject-data@     reject at DATA; reject-header@ at the
 *                              first header; reject-body@ at the body
 *   MAIL FROM, at end of message:
 *     addheader@   X-Milter-Test: added        chgheader@  Subject changed
 *     insheader@   X-Milter-First at index 0   delheader@  X-Remove deleted
 *     replbody@    the body replaced           addrcpt@    +extra@<domain>
 *     acceptbody@  the body replaced, then accept (not continue)
 *     delrcpt@     -drop@<domain>              discard@    discard
 *     quarantine@  quarantine "test hold"      reject-eom@ reject
 *     chgfrom@     sender bounces@<domain>      macros@     X-Milter-Macros: the
 *                                              macros it was given
 *     tempfail-eom@ tempfail                   code-eom@   "550 5.7.0 Eom code"
 *   Every message gets X-Milter-Seen: with the count of headers and body
 *   octets it was shown, so the test sees what the milter saw.
 *
 * Usage: milter_test inet:PORT@127.0.0.1 (or unix:/path).
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

struct priv {
	char mode[64];
	char domain[128];
	unsigned headers;
	unsigned long body;
};

static struct priv *
priv_of(SMFICTX *ctx)
{
	struct priv *p = smfi_getpriv(ctx);

	if (p == NULL && (p = calloc(1, sizeof *p)) != NULL)
		smfi_setpriv(ctx, p);
	return p;
}

static int
is(const struct priv *p, const char *mode)
{
	return p != NULL && strcmp(p->mode, mode) == 0;
}

static sfsistat
t_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	priv_of(ctx);
	if (sa != NULL && sa->sa_family == AF_INET &&
	    ((struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(0x7f000002))
		return SMFIS_REJECT;
	return SMFIS_CONTINUE;
}

static sfsistat
t_helo(SMFICTX *ctx, char *name)
{
	return strcmp(name, "reject.helo") == 0 ? SMFIS_REJECT : SMFIS_CONTINUE;
}

static sfsistat
t_envfrom(SMFICTX *ctx, char **argv)
{
	struct priv *p = priv_of(ctx);
	const char *a = argv[0], *at;

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	if (*a == '<')
		a++;
	at = strchr(a, '@');
	snprintf(p->mode, sizeof p->mode, "%.*s", at ? (int)(at - a) : 0, a);
	snprintf(p->domain, sizeof p->domain, "%s", at ? at + 1 : "");
	p->domain[strcspn(p->domain, ">")] = '\0';
	p->headers = 0;
	p->body = 0;
	if (is(p, "hang-mail"))
		for (;;)
			pause();
	if (is(p, "reject-mail"))
		return SMFIS_REJECT;
	if (is(p, "tempfail-mail"))
		return SMFIS_TEMPFAIL;
	if (is(p, "accept-mail"))
		return SMFIS_ACCEPT;
	if (is(p, "code-mail")) {
		smfi_setreply(ctx, "554", "5.7.9", "Mail code");
		return SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
t_envrcpt(SMFICTX *ctx, char **argv)
{
	return strncmp(argv[0], "<reject-rcpt@", 13) == 0 ? SMFIS_REJECT : SMFIS_CONTINUE;
}

static sfsistat
t_data(SMFICTX *ctx)
{
	return is(priv_of(ctx), "reject-data") ? SMFIS_REJECT : SMFIS_CONTINUE;
}

static sfsistat
t_header(SMFICTX *ctx, char *name, char *value)
{
	struct priv *p = priv_of(ctx);

	p->headers++;
	return is(p, "reject-header") ? SMFIS_REJECT : SMFIS_CONTINUE;
}

static sfsistat
t_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	struct priv *p = priv_of(ctx);

	p->body += len;
	return is(p, "reject-body") ? SMFIS_REJECT : SMFIS_CONTINUE;
}

static sfsistat
t_eom(SMFICTX *ctx)
{
	struct priv *p = priv_of(ctx);
	char seen[64], addr[256];

	snprintf(seen, sizeof seen, "headers=%u body=%lu", p->headers, p->body);
	smfi_addheader(ctx, "X-Milter-Seen", seen);
	if (is(p, "addheader"))
		smfi_addheader(ctx, "X-Milter-Test", "added");
	if (is(p, "chgheader"))
		smfi_chgheader(ctx, "Subject", 1, "changed by the milter");
	if (is(p, "delheader"))
		smfi_chgheader(ctx, "X-Remove", 1, NULL);
	if (is(p, "insheader"))
		smfi_insheader(ctx, 0, "X-Milter-First", "first");
	if (is(p, "replbody") || is(p, "acceptbody")) {
		static unsigned char body[] = "The milter replaced this body.\r\n";
		smfi_replacebody(ctx, body, sizeof body - 1);
	}
	if (is(p, "addrcpt")) {
		snprintf(addr, sizeof addr, "<extra@%s>", p->domain);
		smfi_addrcpt(ctx, addr);
	}
	if (is(p, "delrcpt")) {
		snprintf(addr, sizeof addr, "<drop@%s>", p->domain);
		smfi_delrcpt(ctx, addr);
	}
	if (is(p, "quarantine"))
		smfi_quarantine(ctx, "test hold");
	if (is(p, "macros")) {
		static const char *const names[] = { "j", "{daemon_name}", "{client_addr}",
		                                     "{client_name}", "{tls_version}", "{cipher}",
		                                     "{mail_addr}", "{auth_authen}", "{rcpt_addr}",
		                                     "i", NULL };
		char all[1024] = "";
		for (unsigned i = 0; names[i]; i++) {
			const char *v = smfi_getsymval(ctx, (char *)names[i]);
			size_t n = strlen(all);
			snprintf(all + n, sizeof all - n, "%s%s=%s", n ? " " : "", names[i],
			         v ? v : "-");
		}
		smfi_addheader(ctx, "X-Milter-Macros", all);
	}
	if (is(p, "chgfrom")) {
		snprintf(addr, sizeof addr, "<bounces@%s>", p->domain);
		smfi_chgfrom(ctx, addr, NULL);
	}
	if (is(p, "discard"))
		return SMFIS_DISCARD;
	if (is(p, "acceptbody"))
		return SMFIS_ACCEPT;
	if (is(p, "reject-eom"))
		return SMFIS_REJECT;
	if (is(p, "tempfail-eom"))
		return SMFIS_TEMPFAIL;
	if (is(p, "code-eom")) {
		smfi_setreply(ctx, "550", "5.7.0", "Eom code");
		return SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
t_close(SMFICTX *ctx)
{
	free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
	.xxfi_name = "ringmta-test",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT |
	              SMFIF_DELRCPT | SMFIF_QUARANTINE | SMFIF_CHGFROM,
	.xxfi_connect = t_connect,
	.xxfi_helo = t_helo,
	.xxfi_envfrom = t_envfrom,
	.xxfi_envrcpt = t_envrcpt,
	.xxfi_header = t_header,
	.xxfi_body = t_body,
	.xxfi_eom = t_eom,
	.xxfi_close = t_close,
	.xxfi_data = t_data,
};

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: milter_test inet:PORT@127.0.0.1|unix:/path\n");
		return 64;
	}
	if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "milter_test: cannot listen on %s\n", argv[1]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
