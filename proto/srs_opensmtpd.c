/*
 * proto/srs_opensmtpd.c - OpenSMTPD's SRS hash, for decoding only (see
 * proto/srs_opensmtpd.h).
 */
#include "proto/srs_opensmtpd.h"

#include <string.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "proto/base64.h"

int
proto_srs_opensmtpd_hash(const char *key, const char *text, char hash[PROTO_SRS_HASH_CHARS + 1])
{
	unsigned char md[WC_SHA_DIGEST_SIZE];
	char b64[PROTO_BASE64_LEN(WC_SHA_DIGEST_SIZE) + 1];
	size_t key_len = strnlen(key, PROTO_SRS_KEY_BYTES_MAX);
	size_t text_len = strnlen(text, PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX + 1);
	wc_Sha sha;

	if (key_len >= PROTO_SRS_KEY_BYTES_MAX || text_len > PROTO_SRS_OPENSMTPD_TEXT_CHARS_MAX ||
	    wc_InitSha(&sha) != 0)
		return -1;
	int ok = wc_ShaUpdate(&sha, (const byte *)key, (word32)key_len) == 0 &&
	         wc_ShaUpdate(&sha, (const byte *)text, (word32)text_len) == 0 &&
	         wc_ShaFinal(&sha, md) == 0;
	wc_ShaFree(&sha);
	if (!ok || proto_base64_encode(md, sizeof md, b64, sizeof b64) < 0)
		return -1;
	memcpy(hash, b64, PROTO_SRS_HASH_CHARS);
	hash[PROTO_SRS_HASH_CHARS] = '\0';
	return 0;
}
