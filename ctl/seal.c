/*
 * ctl/seal.c - smtpctl decrypt [-k] [FILE] and encrypt -k [FILE]: a file
 * sealed with the queue encryption key in the format of OpenSMTPD's
 * encrypted queue files (crypto.c: version octet 1, 12-octet IV,
 * AES-256-GCM ciphertext, 16-octet tag), so a file of an OpenSMTPD queue
 * with `queue encryption` can be read, and a file sealed here is opened by
 * either. The output goes to standard output.
 *
 * The key (32 octets as written, as `queue encryption` takes it): with -k,
 * the first line of standard input (the data follows it when no FILE is
 * named); without, the `queue encryption KEY` of the configuration
 * (-f FILE or SMTPD_CONF, as the other commands). encrypt's file mode
 * exists only with -k (without it encrypt hashes a password). The whole
 * input is read into memory, at most SEAL_BYTES_MAX; the key is wiped
 * before exit. A file that is not sealed, or sealed with another key,
 * fails its tag: exit 1 with a message, nothing written.
 */
#include "ctl/smtpctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>

#include "ctl/ctl_client.h"
#include "rules/rules.h"

#define SEAL_BYTES_MAX (256u << 20)
#define SEAL_VERSION 1
#define SEAL_IV_BYTES 12
#define SEAL_TAG_BYTES 16
#define SEAL_KEY_BYTES 32

size_t
smtpctl_seal_buf(const uint8_t key[32], const uint8_t iv[12], const uint8_t *in, size_t len,
                 uint8_t *out)
{
	Aes aes;
	if (len > UINT32_MAX || wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
		return 0;
	int ok = wc_AesGcmSetKey(&aes, key, SEAL_KEY_BYTES) == 0 &&
	         wc_AesGcmEncrypt(&aes, out + 1 + SEAL_IV_BYTES, in, (word32)len, iv,
	                          SEAL_IV_BYTES, out + 1 + SEAL_IV_BYTES + len, SEAL_TAG_BYTES,
	                          NULL, 0) == 0;
	wc_AesFree(&aes);
	if (!ok)
		return 0;
	out[0] = SEAL_VERSION;
	memcpy(out + 1, iv, SEAL_IV_BYTES);
	return len + SMTPCTL_SEAL_OVERHEAD;
}

long
smtpctl_open_buf(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out)
{
	Aes aes;
	if (len < SMTPCTL_SEAL_OVERHEAD || in[0] != SEAL_VERSION || len > UINT32_MAX)
		return -1;
	size_t n = len - SMTPCTL_SEAL_OVERHEAD;
	if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
		return -1;
	int ok = wc_AesGcmSetKey(&aes, key, SEAL_KEY_BYTES) == 0 &&
	         wc_AesGcmDecrypt(&aes, out, in + 1 + SEAL_IV_BYTES, (word32)n, in + 1,
	                          SEAL_IV_BYTES, in + len - SEAL_TAG_BYTES, SEAL_TAG_BYTES,
	                          NULL, 0) == 0;
	wc_AesFree(&aes);
	if (!ok) {
		memset(out, 0, n);   /* nothing of a failed open is used */
		return -1;
	}
	return (long)n;
}

/* The key from the first line of standard input, read octet by octet so
 * what follows stays for the data. 0 or -1 (said). */
static int
seal_key_stdin(uint8_t key[SEAL_KEY_BYTES])
{
	char line[SEAL_KEY_BYTES + 3];
	size_t n = 0;
	char ch;
	ssize_t r;
	while ((r = read(STDIN_FILENO, &ch, 1)) == 1 && ch != '\n')
		if (n < sizeof line)
			line[n++] = ch;
	if (r < 0)
		fprintf(stderr, "smtpctl: standard input: %s\n", strerror(errno));
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (r >= 0 && n != SEAL_KEY_BYTES)
		fprintf(stderr, "smtpctl: the key on the first line of standard input must be %d "
		        "octets (openssl rand -hex 16 prints one)\n", SEAL_KEY_BYTES);
	int ok = r >= 0 && n == SEAL_KEY_BYTES;
	if (ok)
		memcpy(key, line, SEAL_KEY_BYTES);
	explicit_bzero(line, sizeof line);
	return ok ? 0 : -1;
}

/* The configuration's queue encryption key. 0 or -1 (said). */
static int
seal_key_config(const char *file, uint8_t key[SEAL_KEY_BYTES])
{
	char err[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX + 32];
	struct rules_config *cf = ctl_config_load(file, err, sizeof err);
	if (cf == NULL) {
		fprintf(stderr, "smtpctl: %s\n", err);
		return -1;
	}
	int ok = cf->queue_encryption && !cf->queue_key_stdin;
	if (ok)
		memcpy(key, cf->queue_key, SEAL_KEY_BYTES);
	else
		fprintf(stderr, "smtpctl: %s has no queue encryption key: give it on the first line "
		        "of standard input with -k\n", cf->file[0] ? cf->file : "the configuration");
	rules_free(cf);
	return ok ? 0 : -1;
}

/* Read all of fd into *buf (malloc'd). Returns the length, or -1 (said). */
static long
seal_read_all(int fd, const char *name, uint8_t **buf)
{
	size_t len = 0, cap = 65536;
	uint8_t *p = malloc(cap);
	for (;;) {
		if (p == NULL) {
			fprintf(stderr, "smtpctl: %s: out of memory\n", name);
			return -1;
		}
		ssize_t n = read(fd, p + len, cap - len);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "smtpctl: %s: %s\n", name, strerror(errno));
			free(p);
			return -1;
		}
		len += (size_t)n;
		if (len == cap) {
			if (cap >= SEAL_BYTES_MAX) {
				fprintf(stderr, "smtpctl: %s: larger than %u MiB\n", name,
				        SEAL_BYTES_MAX >> 20);
				free(p);
				return -1;
			}
			uint8_t *q = realloc(p, cap * 2);
			if (q == NULL)
				free(p);
			p = q;
			cap *= 2;
		}
	}
	*buf = p;
	return (long)len;
}

/* Seal or open in[0..len) with key and write it out. Exit status. */
static int
seal_run(const uint8_t key[SEAL_KEY_BYTES], const uint8_t *in, size_t len, int encrypt,
         const char *name)
{
	uint8_t *out = malloc(len + SMTPCTL_SEAL_OVERHEAD);
	uint8_t iv[SEAL_IV_BYTES];
	long n = -1;
	if (out == NULL) {
		fprintf(stderr, "smtpctl: %s: out of memory\n", name);
		return 1;
	}
	if (encrypt && getrandom(iv, sizeof iv, 0) == (ssize_t)sizeof iv)
		n = (long)smtpctl_seal_buf(key, iv, in, len, out);
	else if (!encrypt)
		n = smtpctl_open_buf(key, in, len, out);
	if (n <= 0 && !(n == 0 && !encrypt)) {
		fprintf(stderr, encrypt ? "smtpctl: %s: cannot seal it\n"
		                        : "smtpctl: %s: not sealed with this key (or damaged)\n", name);
		free(out);
		return 1;
	}
	int rc = fwrite(out, 1, (size_t)n, stdout) == (size_t)n && fflush(stdout) == 0 ? 0 : 1;
	if (rc)
		fprintf(stderr, "smtpctl: standard output: write failed\n");
	explicit_bzero(out, (size_t)n);
	free(out);
	return rc;
}

int
smtpctl_seal(const char *config_file, int nwords, const char *const *words, int encrypt)
{
	uint8_t key[SEAL_KEY_BYTES], *in = NULL;
	int from_stdin = nwords > 0 && strcmp(words[0], "-k") == 0;
	const char *file = nwords > from_stdin ? words[from_stdin] : NULL;
	if (nwords > from_stdin + 1 || (encrypt && !from_stdin)) {
		fprintf(stderr, encrypt ? "usage: smtpctl encrypt -k [file]\n"
		                        : "usage: smtpctl decrypt [-k] [file]\n");
		return 1;
	}
	if ((from_stdin ? seal_key_stdin(key) : seal_key_config(config_file, key)) < 0)
		return 1;
	int fd = file ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	const char *name = file ? file : "standard input";
	long len = fd < 0 ? -1 : seal_read_all(fd, name, &in);
	if (fd < 0)
		fprintf(stderr, "smtpctl: %s: %s\n", file, strerror(errno));
	if (fd > STDIN_FILENO)
		close(fd);
	int rc = len < 0 ? 1 : seal_run(key, in, (size_t)len, encrypt, name);
	explicit_bzero(key, sizeof key);
	free(in);
	return rc;
}
