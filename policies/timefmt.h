/* timefmt.h - RFC 3339 timestamps and CEL duration strings, private. */
#ifndef POLICIES_TIMEFMT_H
#define POLICIES_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool policy_timestamp_parse(const char *s, size_t n, int64_t *sec,
			    int32_t *nsec);
size_t policy_timestamp_format(int64_t sec, int32_t nsec, char *buf,
			       size_t cap);
bool policy_duration_parse(const char *s, size_t n, int64_t *sec,
			   int32_t *nsec);
size_t policy_duration_format(int64_t sec, int32_t nsec, char *buf, size_t cap);

#endif
