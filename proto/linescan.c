/*
 * proto/linescan.c - proto_line_end(): the first CR or LF in a buffer. With
 * SSE2 (every x86-64 CPU) sixteen octets are compared per step; elsewhere,
 * one at a time. See proto/linescan.h.
 */
#include "proto/linescan.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

size_t
proto_line_end(const char *p, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		unsigned mask = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
	while (i < n && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}
