/*
 * core/srs.c - SRS with the configuration's keys and the wall clock (see
 * core/srs.h).
 */
#include "core/srs.h"

#include <string.h>
#include <time.h>

#include "core/log.h"
#include "proto/srs.h"

int
srs_encode(const struct rules_config *c, const char *sender, const char *domain, char *out,
           size_t cap)
{
	struct proto_srs_keys k;
	char srs[PROTO_SRS_ADDR_BYTES_MAX];

	if (sender[0] == '\0' || rules_srs_keys(c, &k) < 0 ||
	    proto_srs_encode(&k, (uint64_t)time(NULL), sender, domain, srs, sizeof srs) !=
	    PROTO_SRS_OK || strlen(srs) >= cap)
		return 0;
	memcpy(out, srs, strlen(srs) + 1);
	return 1;
}

int
srs_rcpt_decode(const struct rules_config *c, const char *sender, const char *rcpt, char *out,
                size_t cap, const char **why)
{
	struct proto_srs_keys k;

	if (sender[0] != '\0' || !proto_srs_is_srs(rcpt) || rules_srs_keys(c, &k) < 0)
		return 0;
	enum proto_srs_result r = proto_srs_decode(&k, (uint64_t)time(NULL), rcpt, out, cap);
	*why = proto_srs_strerror(r);
	return r == PROTO_SRS_OK ? 1 : -1;
}

int
srs_rcpt_decode_logged(const struct rules_config *c, const char *who, uint64_t id,
                       const char *sender, const char *rcpt, char *out, size_t cap)
{
	const char *why = NULL;
	int r = srs_rcpt_decode(c, sender, rcpt, out, cap, &why);

	if (r < 0)
		log_info("%016llx %s srs rcpt=<%s> not decoded: %s", (unsigned long long)id, who,
		         rcpt, why);
	else if (r > 0)
		log_info("%016llx %s srs rcpt=<%s> decoded to=<%s>", (unsigned long long)id, who,
		         rcpt, out);
	return r > 0;
}
