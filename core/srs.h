/*
 * core/srs.h - SRS (`srs key`, `srs key backup`, `srs ttl`) on this
 * daemon: proto/srs.c with the configuration's keys and the wall clock.
 *
 *   srs_encode()       a forwarded message's sender in SRS form under
 *                      domain; 1 rewritten into out, 0 left as it is (no
 *                      key, a null sender, or one proto/srs.h cannot
 *                      rewrite)
 *   srs_rcpt_decode()  RCPT TO of a bounce (null sender) to an SRS0/SRS1
 *                      local part, from an SMTP session or a local
 *                      submission, as OpenSMTPD's lka_expand(): 1 decoded
 *                      into out, 0 not for us to decode (no key, a sender,
 *                      not SRS), -1 not ours or expired (*why says which;
 *                      the caller goes on with the address as given)
 *   srs_rcpt_decode_logged()  the same for a session or submission (who:
 *                      "smtp", "control"; id its log id), the outcome
 *                      logged; 1 decoded into out, else 0 (go on with rcpt)
 *
 * Which domain is "ours" is decided by the hash alone, as OpenSMTPD does:
 * only our key (or the backup key) makes an address decode.
 */
#ifndef CORE_SRS_H
#define CORE_SRS_H

#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"

int srs_encode(const struct rules_config *c, const char *sender, const char *domain, char *out,
               size_t cap);
int srs_rcpt_decode(const struct rules_config *c, const char *sender, const char *rcpt,
                    char *out, size_t cap, const char **why);
int srs_rcpt_decode_logged(const struct rules_config *c, const char *who, uint64_t id,
                           const char *sender, const char *rcpt, char *out, size_t cap);

#endif
