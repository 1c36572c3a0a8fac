/* lex.h - the CEL tokenizer, private to the parser. */
#ifndef POLICIES_LEX_H
#define POLICIES_LEX_H

#include "policies/internal.h"

enum token_type {
	T_EOF = 0,
	/* single-character operators use their character code */
	T_OP2 = 256, /* "==", then "!=", "<=", ">=", "&&", "||" in order */
	T_EQ = T_OP2,
	T_NE,
	T_LE,
	T_GE,
	T_AND,
	T_OR,
	T_IDENT,
	T_QIDENT, /* `quoted.field` */
	T_INT,	  /* value in u: the parser checks the int64 range */
	T_UINT,
	T_DOUBLE,
	T_STRING, /* decoded text in lexer.buf[0..buf_n) */
	T_BYTES
};

struct token {
	int type;
	size_t start; /* byte offset */
	size_t len;
	uint64_t u;
	double d;
};

struct lexer {
	const char *src;
	size_t n;
	size_t pos;
	struct mm_diag *diag;
	char *buf; /* decoded string literal, n bytes of room */
	size_t buf_n;
};

/* Reads the next token; MM_ERR_DECODE with a caret diagnostic. */
enum mm_err policy_lex_next(struct lexer *lx, struct token *t);

#endif
