/* lex.c - CEL tokens: identifiers, numbers, quoted strings and bytes with
 * every CEL escape, and operators; plus the caret excerpt for errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/lex.h"

#define EXCERPT_BYTES_MAX 60u

enum mm_err policy_parse_fail(struct mm_diag *diag, enum mm_err err,
			      const char *src, size_t n, size_t off,
			      const char *what)
{
	size_t line_start = 0, line_end, col, from, to;
	unsigned line = 1;

	if (off > n)
		off = n;
	for (size_t i = 0; i < off; i++)
		if (src[i] == '\n') {
			line++;
			line_start = i + 1;
		}
	line_end = line_start;
	while (line_end < n && src[line_end] != '\n')
		line_end++;
	col = off - line_start;
	from = col > EXCERPT_BYTES_MAX / 2 ? off - EXCERPT_BYTES_MAX / 2
					   : line_start;
	to = line_end - from > EXCERPT_BYTES_MAX ? from + EXCERPT_BYTES_MAX
						 : line_end;
	mm_fail(diag, err, off, "line %u, column %zu: %s\n  %.*s\n  %*s^", line,
		col + 1, what, (int)(to - from), src + from, (int)(off - from),
		"");
	if (diag != NULL) {
		diag->line = line;
		diag->column = (unsigned)(col + 1);
	}
	return err;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void skip_space(struct lexer *lx)
{
	while (lx->pos < lx->n) {
		char c = lx->src[lx->pos];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c == '\f' || c == '\v') {
			lx->pos++;
		} else if (c == '/' && lx->pos + 1 < lx->n &&
			   lx->src[lx->pos + 1] == '/') {
			while (lx->pos < lx->n && lx->src[lx->pos] != '\n')
				lx->pos++;
		} else {
			break;
		}
	}
}

static int lex_fail(struct lexer *lx, size_t off, const char *what)
{
	return policy_parse_fail(lx->diag, MM_ERR_DECODE, lx->src, lx->n, off,
				 what);
}

/* Appends code point cp as UTF-8 (strings) or byte cp (bytes). */
static bool put_cp(struct lexer *lx, uint32_t cp, bool bytes)
{
	char *o = lx->buf + lx->buf_n;

	if (bytes) {
		o[0] = (char)cp;
		lx->buf_n += 1;
	} else if (cp < 0x80) {
		o[0] = (char)cp;
		lx->buf_n += 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		lx->buf_n += 2;
	} else if (cp < 0x10000) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			return false;
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		lx->buf_n += 3;
	} else if (cp <= 0x10ffff) {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		lx->buf_n += 4;
	} else {
		return false;
	}
	return true;
}

/* Reads k hex digits at p into *cp. */
static bool read_hex(const char *p, size_t avail, unsigned k, uint32_t *cp)
{
	*cp = 0;
	if (avail < k)
		return false;
	for (unsigned i = 0; i < k; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return false;
		*cp = *cp * 16 + (uint32_t)h;
	}
	return true;
}

/* Decodes the escape at lx->pos (just past the backslash). */
static int lex_escape(struct lexer *lx, bool bytes)
{
	static const char simple_in[] = "abfnrtv\\?\"'`";
	static const char simple_out[] = "\a\b\f\n\r\t\v\\?\"'`";
	size_t at = lx->pos - 1, avail = lx->n - lx->pos;
	char c = lx->src[lx->pos];
	const char *hit = memchr(simple_in, c, sizeof(simple_in) - 1);
	uint32_t cp = 0;
	unsigned k = 0;

	if (avail == 0)
		return lex_fail(lx, at, "unterminated escape");
	if (hit != NULL) {
		lx->buf[lx->buf_n++] = simple_out[hit - simple_in];
		lx->pos++;
		return MM_OK;
	}
	if (c >= '0' && c <= '3') {
		if (avail < 3 || !is_digit(lx->src[lx->pos + 1]) ||
		    !is_digit(lx->src[lx->pos + 2]) ||
		    lx->src[lx->pos + 1] > '7' || lx->src[lx->pos + 2] > '7')
			return lex_fail(lx, at, "bad octal escape");
		cp = (uint32_t)((c - '0') * 64 +
				(lx->src[lx->pos + 1] - '0') * 8 +
				(lx->src[lx->pos + 2] - '0'));
		lx->pos += 3;
		return put_cp(lx, cp, bytes) ? MM_OK
					     : lex_fail(lx, at, "bad escape");
	}
	k = (c == 'x' || c == 'X') ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
	if (k == 0 || (bytes && k > 2) ||
	    !read_hex(lx->src + lx->pos + 1, avail - 1, k, &cp))
		return lex_fail(lx, at, "bad escape");
	lx->pos += 1 + k;
	return put_cp(lx, cp, bytes) ? MM_OK : lex_fail(lx, at, "bad escape");
}

/* A quoted string starting at lx->pos; prefix flags already consumed. */
static int lex_string(struct lexer *lx, struct token *t, bool raw, bool bytes)
{
	char q = lx->src[lx->pos];
	bool triple = lx->n - lx->pos >= 3 && lx->src[lx->pos + 1] == q &&
		      lx->src[lx->pos + 2] == q;
	size_t start = lx->pos;

	lx->pos += triple ? 3 : 1;
	lx->buf_n = 0;
	for (;;) {
		char c;

		if (lx->pos >= lx->n)
			return lex_fail(lx, start, "unterminated string");
		c = lx->src[lx->pos];
		if (c == q && (!triple || (lx->n - lx->pos >= 3 &&
					   lx->src[lx->pos + 1] == q &&
					   lx->src[lx->pos + 2] == q))) {
			lx->pos += triple ? 3 : 1;
			break;
		}
		if (!triple && (c == '\n' || c == '\r'))
			return lex_fail(lx, lx->pos, "newline in string");
		if (c == '\\' && !raw) {
			int rc;

			lx->pos++;
			rc = lex_escape(lx, bytes);
			if (rc != MM_OK)
				return rc;
			continue;
		}
		lx->buf[lx->buf_n++] = c;
		lx->pos++;
	}
	if (!bytes && !policy_utf8_valid(lx->buf, lx->buf_n))
		return lex_fail(lx, start, "string is not valid UTF-8");
	t->type = bytes ? T_BYTES : T_STRING;
	return MM_OK;
}

static int lex_int(struct lexer *lx, struct token *t, size_t start, int base)
{
	char tmp[80];
	size_t len = lx->pos - start;
	unsigned long long v;
	char *end;

	if (len >= sizeof(tmp))
		return lex_fail(lx, start, "integer literal too long");
	memcpy(tmp, lx->src + start, len);
	tmp[len] = '\0';
	errno = 0;
	v = strtoull(base == 16 ? tmp + 2 : tmp, &end, base);
	if (errno != 0 || *end != '\0')
		return lex_fail(lx, start, "integer literal out of range");
	t->u = v;
	t->type = T_UINT;
	if (lx->pos < lx->n &&
	    (lx->src[lx->pos] == 'u' || lx->src[lx->pos] == 'U')) {
		lx->pos++;
		return MM_OK;
	}
	t->type = T_INT; /* range vs int64 is checked by the parser (for -) */
	return MM_OK;
}

static void skip_digits(struct lexer *lx)
{
	while (lx->pos < lx->n && is_digit(lx->src[lx->pos]))
		lx->pos++;
}

static int lex_number(struct lexer *lx, struct token *t)
{
	size_t start = lx->pos;
	bool dbl = false;
	char tmp[128];

	if (lx->n - start > 2 && lx->src[start] == '0' &&
	    (lx->src[start + 1] == 'x' || lx->src[start + 1] == 'X')) {
		lx->pos += 2;
		while (lx->pos < lx->n && hexval(lx->src[lx->pos]) >= 0)
			lx->pos++;
		return lex_int(lx, t, start, 16);
	}
	skip_digits(lx);
	if (lx->pos + 1 < lx->n && lx->src[lx->pos] == '.' &&
	    is_digit(lx->src[lx->pos + 1])) {
		dbl = true;
		lx->pos++;
		skip_digits(lx);
	}
	if (lx->pos < lx->n &&
	    (lx->src[lx->pos] == 'e' || lx->src[lx->pos] == 'E')) {
		size_t p = lx->pos + 1;

		if (p < lx->n && (lx->src[p] == '+' || lx->src[p] == '-'))
			p++;
		if (p < lx->n && is_digit(lx->src[p])) {
			dbl = true;
			lx->pos = p;
			skip_digits(lx);
		}
	}
	if (!dbl)
		return lex_int(lx, t, start, 10);
	if (lx->pos - start >= sizeof(tmp))
		return lex_fail(lx, start, "number literal too long");
	memcpy(tmp, lx->src + start, lx->pos - start);
	tmp[lx->pos - start] = '\0';
	t->d = strtod(tmp, NULL);
	t->type = T_DOUBLE;
	return MM_OK;
}

static int lex_ident(struct lexer *lx, struct token *t)
{
	size_t start = lx->pos;
	char c = lx->src[start];
	bool prefix = lx->n - start >= 2 &&
		      (lx->src[start + 1] == '\'' || lx->src[start + 1] == '"');

	if (prefix && (c == 'r' || c == 'R' || c == 'b' || c == 'B')) {
		lx->pos++;
		return lex_string(lx, t, c == 'r' || c == 'R',
				  c == 'b' || c == 'B');
	}
	if (lx->n - start >= 3 &&
	    (lx->src[start + 2] == '\'' || lx->src[start + 2] == '"')) {
		char d = lx->src[start + 1];
		bool rb = (c == 'r' || c == 'R') && (d == 'b' || d == 'B');
		bool br = (c == 'b' || c == 'B') && (d == 'r' || d == 'R');

		if (rb || br) {
			lx->pos += 2;
			return lex_string(lx, t, true, true);
		}
	}
	while (lx->pos < lx->n &&
	       (is_alpha(lx->src[lx->pos]) || is_digit(lx->src[lx->pos])))
		lx->pos++;
	t->type = T_IDENT;
	return MM_OK;
}

static int lex_quoted_ident(struct lexer *lx, struct token *t)
{
	size_t start = ++lx->pos;

	while (lx->pos < lx->n && lx->src[lx->pos] != '`') {
		char c = lx->src[lx->pos];

		if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-' &&
		    c != '/' && c != ' ')
			return lex_fail(lx, lx->pos, "bad character in `name`");
		lx->pos++;
	}
	if (lx->pos >= lx->n || lx->pos == start)
		return lex_fail(lx, start - 1, "unterminated `name`");
	t->start = start;
	t->len = lx->pos - start;
	lx->pos++;
	t->type = T_QIDENT;
	return MM_OK;
}

/* Two-character operators first, then one-character ones. */
static int lex_op(struct lexer *lx, struct token *t)
{
	static const char *const two[] = {"==", "!=", "<=", ">=", "&&", "||"};
	static const char one[] = "+-*/%<>!?:.,()[]{}";
	char c = lx->src[lx->pos];

	for (size_t i = 0; i < MM_ARRAY_LEN(two); i++)
		if (lx->n - lx->pos >= 2 &&
		    memcmp(lx->src + lx->pos, two[i], 2) == 0) {
			t->type = T_OP2 + (int)i;
			lx->pos += 2;
			return MM_OK;
		}
	if (c != '\0' && strchr(one, c) != NULL) {
		t->type = (unsigned char)c;
		lx->pos++;
		return MM_OK;
	}
	return lex_fail(lx, lx->pos, "unexpected character");
}

enum mm_err policy_lex_next(struct lexer *lx, struct token *t)
{
	int rc;
	char c;

	skip_space(lx);
	memset(t, 0, sizeof(*t));
	t->start = lx->pos;
	if (lx->pos >= lx->n) {
		t->type = T_EOF;
		return MM_OK;
	}
	c = lx->src[lx->pos];
	if (is_digit(c) ||
	    (c == '.' && lx->pos + 1 < lx->n && is_digit(lx->src[lx->pos + 1])))
		rc = lex_number(lx, t);
	else if (is_alpha(c))
		rc = lex_ident(lx, t);
	else if (c == '\'' || c == '"')
		rc = lex_string(lx, t, false, false);
	else if (c == '`')
		return lex_quoted_ident(lx, t);
	else
		rc = lex_op(lx, t);
	t->len = lx->pos - t->start;
	return rc;
}
