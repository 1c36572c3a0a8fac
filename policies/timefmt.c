/* timefmt.c - RFC 3339 timestamps (years 0001-9999, UTC offsets) and
 * CEL duration strings ("1h30m", "-1.5s", "100ms"), parsed and printed
 * without the C library's locale- or timezone-dependent functions. */
#include <stdio.h>
#include <string.h>

#include "common/mm.h"
#include "policies/timefmt.h"

#define NANOS		     1000000000LL
#define DURATION_SECONDS_MAX 315576000000LL

/* k digits at s into *v. */
static bool digits(const char *s, size_t n, size_t at, unsigned k, int *v)
{
	*v = 0;
	if (at + k > n)
		return false;
	for (unsigned i = 0; i < k; i++) {
		if (s[at + i] < '0' || s[at + i] > '9')
			return false;
		*v = *v * 10 + (s[at + i] - '0');
	}
	return true;
}

/* Fraction digits at s[*at] (after '.') into nanoseconds. */
static bool fraction(const char *s, size_t n, size_t *at, int32_t *nsec)
{
	int64_t scale = NANOS / 10, v = 0;
	size_t start = *at;

	while (*at < n && s[*at] >= '0' && s[*at] <= '9') {
		if (*at - start >= 9)
			return false;
		v += (s[*at] - '0') * scale;
		scale /= 10;
		(*at)++;
	}
	*nsec = (int32_t)v;
	return *at > start;
}

static bool zone(const char *s, size_t n, size_t at, int64_t *offset)
{
	int hh, mm;

	*offset = 0;
	if (at + 1 == n && (s[at] == 'Z' || s[at] == 'z'))
		return true;
	if (at + 6 != n || (s[at] != '+' && s[at] != '-') || s[at + 3] != ':' ||
	    !digits(s, n, at + 1, 2, &hh) || !digits(s, n, at + 4, 2, &mm) ||
	    hh > 23 || mm > 59)
		return false;
	*offset = (hh * 3600 + mm * 60) * (s[at] == '-' ? -1 : 1);
	return true;
}

bool policy_timestamp_parse(const char *s, size_t n, int64_t *sec,
			    int32_t *nsec)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
					 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se;
	size_t at = 19;
	int64_t off;

	*nsec = 0;
	if (!digits(s, n, 0, 4, &y) || n < 20 || s[4] != '-' ||
	    !digits(s, n, 5, 2, &mo) || s[7] != '-' ||
	    !digits(s, n, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s, n, 11, 2, &h) || s[13] != ':' ||
	    !digits(s, n, 14, 2, &mi) || s[16] != ':' ||
	    !digits(s, n, 17, 2, &se))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    (unsigned)d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 &&
	     (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))) ||
	    h > 23 || mi > 59 || se > 59)
		return false;
	if (s[at] == '.') {
		at++;
		if (!fraction(s, n, &at, nsec))
			return false;
	}
	if (!zone(s, n, at, &off))
		return false;
	*sec = mm_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	       h * 3600 + mi * 60 + se - off;
	return *sec >= -62135596800LL && *sec <= 253402300799LL;
}

size_t policy_timestamp_format(int64_t sec, int32_t nsec, char *buf, size_t cap)
{
	int64_t days = sec / 86400, rem = sec % 86400, y;
	unsigned m, d;
	int len;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	mm_civil_from_days(days, &y, &m, &d);
	len = snprintf(buf, cap, "%04lld-%02u-%02uT%02d:%02d:%02d",
		       (long long)y, m, d, (int)(rem / 3600),
		       (int)(rem / 60 % 60), (int)(rem % 60));
	if (nsec > 0 && len > 0 && (size_t)len < cap)
		len += snprintf(buf + len, cap - (size_t)len, ".%09d", nsec);
	if (len > 0 && (size_t)len < cap)
		len += snprintf(buf + len, cap - (size_t)len, "Z");
	return len < 0 ? 0 : (size_t)len;
}

/* Nanoseconds per unit at s[*at], advancing past it; 0 if none. */
static int64_t unit(const char *s, size_t n, size_t *at)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {{"ns", 1},	   {"us", 1000},      {"ms", 1000000},
		     {"s", NANOS}, {"m", 60 * NANOS}, {"h", 3600 * NANOS}};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t k = strlen(units[i].name);

		if (*at + k <= n && memcmp(s + *at, units[i].name, k) == 0 &&
		    !(k == 1 && *at + 1 < n && s[*at + 1] == 's')) {
			*at += k;
			return units[i].ns;
		}
	}
	return 0;
}

bool policy_duration_parse(const char *s, size_t n, int64_t *sec, int32_t *nsec)
{
	__extension__ __int128 total = 0;
	size_t at = 0;
	bool neg = n > 0 && s[0] == '-';

	at = neg;
	if (at >= n)
		return false;
	while (at < n) {
		int64_t whole = 0, per;
		int32_t frac = 0;
		size_t start = at;

		while (at < n && s[at] >= '0' && s[at] <= '9' &&
		       at - start < 12)
			whole = whole * 10 + (s[at++] - '0');
		if (at < n && s[at] == '.') {
			at++;
			if (!fraction(s, n, &at, &frac))
				return false;
		}
		per = at > start ? unit(s, n, &at) : 0;
		if (per == 0)
			return false;
		total += (__extension__(__int128) whole) * per +
			 (__extension__(__int128) frac) * per / NANOS;
		if (total >
		    (__extension__(__int128) DURATION_SECONDS_MAX) * NANOS)
			return false;
	}
	if (neg)
		total = -total;
	*sec = (int64_t)(total / NANOS);
	*nsec = (int32_t)(total % NANOS);
	if (*nsec < 0) {
		*nsec += (int32_t)NANOS;
		(*sec)--;
	}
	return true;
}

size_t policy_duration_format(int64_t sec, int32_t nsec, char *buf, size_t cap)
{
	int len;

	if (sec < 0 && nsec > 0) {
		sec++;
		nsec = (int32_t)(NANOS - nsec);
		len = snprintf(buf, cap, "-%lld", (long long)-sec);
	} else {
		len = snprintf(buf, cap, "%lld", (long long)sec);
	}
	if (nsec > 0 && len > 0 && (size_t)len < cap) {
		char frac[16];
		int k = snprintf(frac, sizeof(frac), "%09d", nsec);

		while (k > 0 && frac[k - 1] == '0')
			frac[--k] = '\0';
		len += snprintf(buf + len, cap - (size_t)len, ".%s", frac);
	}
	if (len > 0 && (size_t)len < cap)
		len += snprintf(buf + len, cap - (size_t)len, "s");
	return len < 0 ? 0 : (size_t)len;
}
