/*
 * test/proto/test_linescan.c - proto_line_end() finds the first CR or LF at
 * every position and length, across the sixteen-octet steps, and returns
 * the length when there is none.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/linescan.h"

/* The plain answer to compare with. */
static size_t
naive_line_end(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

Test(linescan, every_position_and_length)
{
	char buf[80];
	for (size_t len = 0; len <= 70; len++) {
		for (size_t at = 0; at <= len; at++) {
			for (int which = 0; which < 2; which++) {
				memset(buf, 'x', sizeof buf);
				if (at < len)
					buf[at] = which ? '\n' : '\r';
				cr_assert_eq(proto_line_end(buf, len), naive_line_end(buf, len),
				             "len %zu, %s at %zu", len, which ? "LF" : "CR", at);
				cr_assert_eq(proto_line_end(buf, len), at);
			}
		}
	}
}

Test(linescan, first_of_several_and_high_octets)
{
	char buf[64];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(0x80 | i);   /* octets above 127 are text, not line ends */
	cr_assert_eq(proto_line_end(buf, sizeof buf), sizeof buf);
	buf[40] = '\n';
	buf[20] = '\r';
	buf[33] = '\r';
	cr_assert_eq(proto_line_end(buf, sizeof buf), 20);
	cr_assert_eq(proto_line_end(buf + 21, sizeof buf - 21), 12);
	cr_assert_eq(proto_line_end(buf + 34, sizeof buf - 34), 6);
}
