/*
 * core/mta_tls.c - owns the relay's client TLS contexts (see
 * core/mta_tls.h): a fixed table filled on the main thread, an entry
 * written whole before the count that publishes it.
 */
#include "core/mta_tls.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/daemon.h"
#include "core/tls.h"
#include "rules/rules.h"

struct mta_tls_entry {
	int verify;
	char ca[RULES_PATH_BYTES_MAX];      /* "" without verification */
	char pki[RULES_HOST_BYTES_MAX];     /* "" without a client certificate */
	char ciphers[RULES_CIPHERS_BYTES_MAX]; /* "" the library's default */
	unsigned protocols;                 /* RULES_TLS_V1_* */
	struct tls_ctx *ctx;
};

struct mta_tls {
	atomic_uint count;
	struct mta_tls_entry e[MTA_TLS_CTX_MAX];
};

struct tls_ctx *
mta_tls_ctx_find(struct daemon *d, int verify, const char *ca_file, const char *pki,
                 const char *ciphers, unsigned protocols)
{
	struct mta_tls *m = d->mta_tls;
	if (m == NULL)
		return NULL;
	unsigned n = atomic_load_explicit(&m->count, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		const struct mta_tls_entry *e = &m->e[i];
		if (e->verify == verify && strcmp(e->ca, verify ? ca_file : "") == 0 &&
		    strcasecmp(e->pki, pki) == 0 && strcmp(e->ciphers, ciphers) == 0 &&
		    e->protocols == protocols)
			return e->ctx;
	}
	return NULL;
}

/* The CA file a verifying action checks with: its `ca`, else the system's. */
static const char *
mta_tls_ca(const struct rules_action *a)
{
	return a->relay_ca[0] ? a->relay_ca : MTA_TLS_SYSTEM_CA;
}

struct tls_ctx *
mta_tls_ctx(struct daemon *d, const struct rules_action *a)
{
	int verify = a->relay_tls != RULES_RELAY_TLS_OPPORTUNISTIC && a->relay_tls_verify;
	return mta_tls_ctx_find(d, verify, mta_tls_ca(a), a->relay_pki, a->relay_ciphers,
	                        a->relay_protocols);
}

/* Make the context action a needs unless it exists; 0 or -1 with err. */
static int
mta_tls_add(struct daemon *d, const struct rules_config *c, const struct rules_action *a,
            char *err, size_t cap)
{
	struct mta_tls *m = d->mta_tls;
	int verify = a->relay_tls != RULES_RELAY_TLS_OPPORTUNISTIC && a->relay_tls_verify;
	const char *ca = verify ? mta_tls_ca(a) : "";
	if (mta_tls_ctx_find(d, verify, ca, a->relay_pki, a->relay_ciphers, a->relay_protocols) !=
	    NULL)
		return 0;
	unsigned n = atomic_load_explicit(&m->count, memory_order_relaxed);
	if (n == MTA_TLS_CTX_MAX) {
		snprintf(err, cap, "action %s: more than %d relay TLS settings", a->name,
		         MTA_TLS_CTX_MAX);
		return -1;
	}
	struct tls_pki pki, *client = NULL;
	if (a->relay_pki[0] != '\0') {
		const struct rules_pki *p = rules_pki_find(c, a->relay_pki);
		if (p == NULL) {
			snprintf(err, cap, "action %s: no pki \"%s\"", a->name, a->relay_pki);
			return -1;
		}
		pki = (struct tls_pki){ p->name, p->cert, p->key };
		client = &pki;
	}
	char why[256];
	struct mta_tls_entry *e = &m->e[n];
	e->ctx = tls_ctx_client_new(verify ? ca : NULL, verify, a->relay_protocols,
	                            a->relay_ciphers, client, why, sizeof why);
	if (e->ctx == NULL) {
		snprintf(err, cap, "action %s: %s", a->name, why);
		return -1;
	}
	e->verify = verify;
	snprintf(e->ca, sizeof e->ca, "%s", ca);
	snprintf(e->pki, sizeof e->pki, "%s", a->relay_pki);
	snprintf(e->ciphers, sizeof e->ciphers, "%s", a->relay_ciphers);
	e->protocols = a->relay_protocols;
	atomic_store_explicit(&m->count, n + 1, memory_order_release);
	return 0;
}

int
mta_tls_setup(struct daemon *d, const struct rules_config *c, char *err, size_t cap)
{
	int ret = 0;
	err[0] = '\0';
	for (unsigned i = 0; i < c->nactions; i++) {
		const struct rules_action *a = &c->actions[i];
		if (a->kind != RULES_ACTION_RELAY || a->relay_tls == RULES_RELAY_TLS_NO)
			continue;
		if (d->mta_tls == NULL) {
			if (tls_init() < 0) {
				snprintf(err, cap, "TLS library: cannot initialise");
				return -1;
			}
			if ((d->mta_tls = calloc(1, sizeof *d->mta_tls)) == NULL) {
				snprintf(err, cap, "out of memory");
				return -1;
			}
		}
		char one[512];
		if (mta_tls_add(d, c, a, one, sizeof one) < 0 && ret == 0) {
			snprintf(err, cap, "%s", one);
			ret = -1;
		}
		if (a->relay_domain != NULL && a->relay_tls == RULES_RELAY_TLS_OPPORTUNISTIC) {
			/* a domain table's smtp+tls:// or smtps:// URL verifies */
			struct rules_action v = *a;
			v.relay_tls = RULES_RELAY_TLS_STARTTLS;
			v.relay_tls_verify = 1;
			if (mta_tls_add(d, c, &v, one, sizeof one) < 0 && ret == 0) {
				snprintf(err, cap, "%s", one);
				ret = -1;
			}
		}
	}
	return ret;
}

void
mta_tls_free(struct daemon *d)
{
	struct mta_tls *m = d->mta_tls;
	if (m == NULL)
		return;
	unsigned n = atomic_load(&m->count);
	for (unsigned i = 0; i < n; i++)
		tls_ctx_free(m->e[i].ctx);
	free(m);
	d->mta_tls = NULL;
}
