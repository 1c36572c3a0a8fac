/* mm.c - error strings, diagnostics and assertion failure for all modules. */
#include "mm.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *code;
	const char *text;
} errs[MM_ERR__COUNT] = {
	[MM_OK] = {"ok", "success"},
	[MM_ERR_NOMEM] = {"nomem", "out of memory"},
	[MM_ERR_INVALID] = {"invalid", "invalid argument"},
	[MM_ERR_DECODE] = {"decode", "malformed or non-canonical encoding"},
	[MM_ERR_LIMIT] = {"limit", "a limit was exceeded"},
	[MM_ERR_SCHEMA] = {"schema", "wrong fields or field types"},
	[MM_ERR_UNKNOWN_TYPE] = {"unknown_type", "unknown transaction type"},
	[MM_ERR_SIGNATURE] = {"signature", "signature does not verify"},
	[MM_ERR_STALE] = {"stale", "created time outside the accepted window"},
	[MM_ERR_CRYPTO] = {"crypto", "cryptographic library failure"},
	[MM_ERR_KEY] = {"key", "key file unreadable or not an Ed25519 key"},
	[MM_ERR_IO] = {"io", "input/output error"},
	[MM_ERR_NOTFOUND] = {"not_found", "not found"},
	[MM_ERR_EXISTS] = {"exists", "already exists"},
	[MM_ERR_RANGE] = {"range", "out of range"},
	[MM_ERR_PROOF] = {"proof", "proof does not verify"},
	[MM_ERR_CORRUPT] = {"corrupt", "stored data is corrupt"},
	[MM_ERR_MAP_FULL] = {"map_full", "storage map is full"},
	[MM_ERR_STORE] = {"store", "storage failure"},
	[MM_ERR_BUSY] = {"busy", "too busy; try again later"},
	[MM_ERR_CLOSED] = {"closed", "shutting down"},
	[MM_ERR_DENIED] = {"denied", "not permitted"},
	[MM_ERR_REJECTED] = {"rejected", "refused by the transaction's rules"},
	[MM_ERR_WRONG_CHAIN] = {"wrong_chain", "signed for another chain"},
	[MM_ERR_NO_SPACE] = {"no_space", "no space left on the node's disk"},
};

const char *mm_strerror(int err)
{
	if (err < 0 || err >= MM_ERR__COUNT || !errs[err].text)
		return "unknown error";
	return errs[err].text;
}

const char *mm_errcode(int err)
{
	if (err < 0 || err >= MM_ERR__COUNT || !errs[err].code)
		return "unknown";
	return errs[err].code;
}

/* Asserts reason is a reason word, [a-z_]+ shorter than the field, or
 * empty when empty is allowed. */
static void check_reason(const char *reason, bool empty_ok)
{
	size_t n = strlen(reason);

	MM_ASSERT(n < MM_DIAG_REASON_MAX && (n > 0 || empty_ok));
	MM_ASSERT(strspn(reason, "abcdefghijklmnopqrstuvwxyz_") == n);
}

enum mm_err mm_vfail_reason(struct mm_diag *diag, enum mm_err err,
			    const char *reason, size_t offset, const char *fmt,
			    va_list ap)
{
	check_reason(reason, true);
	if (!diag)
		return err;
	diag->offset = offset;
	snprintf(diag->reason, sizeof(diag->reason), "%s", reason);
	vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
	return err;
}

enum mm_err mm_fail(struct mm_diag *diag, enum mm_err err, size_t offset,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vfail_reason(diag, err, "", offset, fmt, ap);
	va_end(ap);
	return err;
}

enum mm_err mm_fail_reason(struct mm_diag *diag, enum mm_err err,
			   const char *reason, size_t offset, const char *fmt,
			   ...)
{
	va_list ap;

	va_start(ap, fmt);
	mm_vfail_reason(diag, err, reason, offset, fmt, ap);
	va_end(ap);
	return err;
}

enum mm_err mm_vrefuse(struct mm_diag *diag, enum mm_err err, const char *where,
		       const char *reason, const char *fmt, va_list ap)
{
	size_t cap = sizeof(diag->msg);
	int n;

	check_reason(reason, false);
	if (!diag)
		return err;
	diag->offset = 0;
	snprintf(diag->reason, sizeof(diag->reason), "%s", reason);
	if (where)
		n = snprintf(diag->msg, cap, "%s: %s: ", where, reason);
	else
		n = snprintf(diag->msg, cap, "%s: ", reason);
	if (n >= 0 && (size_t)n < cap)
		vsnprintf(diag->msg + n, cap - (size_t)n, fmt, ap);
	return err;
}

void mm_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "medmarket: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}

int64_t mm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void mm_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}
