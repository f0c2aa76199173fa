/*
 * test/core/test_tls.c - real TLS handshakes between a client and a server
 * connection of core/tls.c, wired together in memory: certificates made by
 * the openssl command line (a test CA and two server names), SNI choosing the
 * certificate, verification failing for an untrusted CA and a wrong name,
 * data both ways, close_notify.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tls.h"

static char dir[] = "/tmp/ringmta-tls-XXXXXX";

/* A CA, two leaf certificates it signs (a.test, b.test), and a self-signed
 * stranger, all with the openssl command line. */
static void
tls_fixture(void)
{
	cr_assert_not_null(mkdtemp(dir));
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
	         "cd %s && exec >/dev/null 2>&1 && "
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	         "  -keyout ca.key -out ca.crt -days 2 -subj /CN=ringmta-test-ca && "
	         "for n in a b; do "
	         "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	         "    -keyout $n.key -out $n.csr -subj /CN=$n.test && "
	         "  printf 'subjectAltName=DNS:%%s.test\\n' $n > $n.ext && "
	         "  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	         "    -out $n.crt -days 2 -extfile $n.ext || exit 1; "
	         "done && "
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	         "  -keyout other.key -out other.crt -days 2 -subj /CN=other.test",
	         dir);
	cr_assert_eq(system(cmd), 0, "openssl could not make the test certificates");
	cr_assert_eq(tls_init(), 0);
}

static void
tls_teardown(void)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static struct tls_ctx *
server_ctx(void)
{
	char ac[256], ak[256], bc[256], bk[256], err[256];
	snprintf(ac, sizeof ac, "%s/a.crt", dir);
	snprintf(ak, sizeof ak, "%s/a.key", dir);
	snprintf(bc, sizeof bc, "%s/b.crt", dir);
	snprintf(bk, sizeof bk, "%s/b.key", dir);
	struct tls_pki pki[] = { { "a.test", ac, ak }, { "b.test", bc, bk } };
	struct tls_ctx *t = tls_ctx_server_new(pki, 2, &(struct tls_server_params){ 0 }, err, sizeof err);
	cr_assert_not_null(t, "server context: %s", err);
	return t;
}

static struct tls_ctx *
client_ctx(const char *ca, int verify)
{
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/%s", dir, ca);
	struct tls_ctx *t = tls_ctx_client_new(path, verify, 0, NULL, NULL, err, sizeof err);
	cr_assert_not_null(t, "client context: %s", err);
	return t;
}

/* Move what a has to send into b. */
static void
pass(struct tls_conn *a, struct tls_conn *b)
{
	size_t len;
	const void *p = tls_conn_out(a, &len);
	if (len == 0)
		return;
	size_t n = tls_conn_feed(b, p, len);
	tls_conn_out_sent(a, n);
}

/* Both sides step until done; returns the client's and server's results. */
static void
handshake(struct tls_conn *cl, struct tls_conn *sv, int *rc, int *rs)
{
	*rc = *rs = TLS_WANT;
	for (int i = 0; i < 50 && (*rc == TLS_WANT || *rs == TLS_WANT); i++) {
		if (*rc == TLS_WANT)
			*rc = tls_conn_handshake(cl);
		pass(cl, sv);
		if (*rs == TLS_WANT)
			*rs = tls_conn_handshake(sv);
		pass(sv, cl);
		if (*rc == TLS_ERROR || *rs == TLS_ERROR)
			break;
	}
}

TestSuite(tls, .init = tls_fixture, .fini = tls_teardown);

Test(tls, sni_picks_certificate_and_data_flows)
{
	struct tls_ctx *sctx = server_ctx(), *cctx = client_ctx("ca.crt", 1);
	static const char *const names[] = { "a.test", "b.test" };
	for (unsigned i = 0; i < 2; i++) {
		struct tls_conn *cl = tls_conn_new(cctx, names[i]), *sv = tls_conn_new(sctx, NULL);
		int rc, rs;
		handshake(cl, sv, &rc, &rs);
		/* the client verified the name it asked for: so the server chose it */
		cr_assert_eq(rc, TLS_OK, "%s: client: %s", names[i], tls_conn_error(cl));
		cr_assert_eq(rs, TLS_OK, "%s: server: %s", names[i], tls_conn_error(sv));
		cr_expect_str_eq(tls_conn_sni(sv), names[i]);
		cr_expect_str_eq(tls_conn_version(sv), "TLSv1.3");
		cr_expect(tls_conn_peer_verified(cl));
		char desc[128];
		tls_conn_describe(sv, desc, sizeof desc);
		cr_expect(strncmp(desc, "TLSv1.3:TLS_", 12) == 0, "describe: %s", desc);

		char buf[64];
		cr_assert_eq(tls_conn_write(cl, "EHLO x\r\n", 8), 8);
		pass(cl, sv);
		cr_assert_eq(tls_conn_read(sv, buf, sizeof buf), 8);
		cr_expect(memcmp(buf, "EHLO x\r\n", 8) == 0);
		cr_expect_eq(tls_conn_read(sv, buf, sizeof buf), TLS_WANT);
		cr_assert_eq(tls_conn_write(sv, "250 ok\r\n", 8), 8);
		pass(sv, cl);
		cr_assert_eq(tls_conn_read(cl, buf, sizeof buf), 8);
		tls_conn_shutdown(cl);
		pass(cl, sv);
		cr_expect_eq(tls_conn_read(sv, buf, sizeof buf), TLS_CLOSED);
		tls_conn_free(cl);
		tls_conn_free(sv);
	}
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

Test(tls, untrusted_or_wrong_name_fails_when_verifying)
{
	struct tls_ctx *sctx = server_ctx();
	struct tls_ctx *stranger = client_ctx("other.crt", 1);   /* trusts only "other" */
	struct tls_ctx *trusting = client_ctx("ca.crt", 1);
	struct tls_ctx *lax = client_ctx("other.crt", 0);
	struct {
		struct tls_ctx *cctx;
		const char *name;
		int want_ok;
	} cases[] = {
		{ stranger, "a.test", 0 },   /* unknown CA */
		{ trusting, "c.test", 0 },   /* default cert a.test: name mismatch */
		{ lax, "c.test", 1 },        /* no-verify: encrypted anyway */
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tls_conn *cl = tls_conn_new(cases[i].cctx, cases[i].name);
		struct tls_conn *sv = tls_conn_new(sctx, NULL);
		int rc, rs;
		handshake(cl, sv, &rc, &rs);
		if (cases[i].want_ok)
			cr_expect_eq(rc, TLS_OK, "case %u: %s", i, tls_conn_error(cl));
		else
			cr_expect_eq(rc, TLS_ERROR, "case %u: got %d, want an error", i, rc);
		tls_conn_free(cl);
		tls_conn_free(sv);
	}
	tls_ctx_free(sctx);
	tls_ctx_free(stranger);
	tls_ctx_free(trusting);
	tls_ctx_free(lax);
}

Test(tls, garbage_instead_of_a_handshake_is_an_error)
{
	struct tls_ctx *sctx = server_ctx();
	struct tls_conn *sv = tls_conn_new(sctx, NULL);
	static const char junk[] = "EHLO plain text where a ClientHello should be\r\n";
	tls_conn_feed(sv, junk, sizeof junk - 1);
	int r = tls_conn_handshake(sv);
	cr_expect_eq(r, TLS_ERROR, "got %d", r);
	cr_expect(strstr(tls_conn_error(sv), "handshake") != NULL, "%s", tls_conn_error(sv));
	tls_conn_free(sv);
	tls_ctx_free(sctx);
}

Test(tls, missing_key_file_is_reported)
{
	char c[256], err[256];
	snprintf(c, sizeof c, "%s/a.crt", dir);
	struct tls_pki pki = { "a.test", c, "/nonexistent/a.key" };
	cr_expect_null(tls_ctx_server_new(&pki, 1, &(struct tls_server_params){ 0 }, err, sizeof err));
	cr_expect(strstr(err, "/nonexistent/a.key") != NULL, "%s", err);
}
