/* internal.h - the policies module's private types: values, arenas, the
 * syntax tree and the evaluation context, shared by its .c files. */
#ifndef POLICIES_INTERNAL_H
#define POLICIES_INTERNAL_H

#include <gmp.h>
#include <string.h>

#include "policies/policies.h"

/* A value is 16 bytes, so it travels in two registers (returned by value
 * without a trip through memory), copied freely; what it points to is immutable
 * and owned by an arena (an input's, an expression's or a context's).  A map
 * stores 2*n values: key, value, key, value. */
struct policy_value {
	uint8_t kind;  /* enum policy_vkind */
	uint8_t flags; /* PV_* */
	uint16_t err;  /* enum policy_error for POLICY_V_ERROR */
	uint32_t n;    /* string/bytes length, list items, map entries,
			* a timestamp's or duration's nanoseconds */
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double d;
		const char *s;		    /* string, bytes, type name */
		struct policy_value *items; /* list, map */
		mpq_ptr q;		    /* decimal */
		int64_t sec;		    /* timestamp, duration: seconds */
	};
};

/* items[-1].n of a caller-built list/map holds its capacity. */
#define PV_HAS_CAP 1u

/* A bump allocator over chunks; reset keeps the chunks for reuse. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct arena {
	struct arena_chunk *head;  /* current chunk */
	struct arena_chunk *spare; /* chunks kept from before a reset */
	size_t bytes;		   /* total handed out since reset */
	size_t bytes_max;
	mpq_ptr *decs; /* decimals to clear on reset */
	size_t decs_n;
	size_t decs_cap;
};

void policy_arena_init(struct arena *a, size_t bytes_max);
void *policy_arena_alloc(struct arena *a, size_t n);
void policy_arena_reset(struct arena *a);
void policy_arena_release(struct arena *a);
/* A fresh mpq_t owned by the arena (cleared on reset), or NULL. */
mpq_ptr policy_arena_decimal(struct arena *a);

/* ---- syntax tree -------------------------------------------------------- */

enum node_op {
	N_LIT,
	N_IDENT,  /* variable or type name */
	N_LOCAL,  /* comprehension variable: slot */
	N_SELECT, /* args[0].name */
	N_HAS,	  /* has(args[0].name) */
	N_INDEX,  /* args[0][args[1]] */
	N_CALL,	  /* name(args...) or args[0].name(args[1..]) */
	N_LIST,
	N_MAP, /* args: key, value, key, value */
	N_NOT,
	N_NEG,
	N_AND,
	N_OR,
	N_COND,
	N_BINARY, /* fn: B_* */
	N_COMP	  /* comprehension: fn is a C_* kind */
};

enum binop {
	B_ADD,
	B_SUB,
	B_MUL,
	B_DIV,
	B_MOD,
	B_EQ,
	B_NE,
	B_LT,
	B_LE,
	B_GT,
	B_GE,
	B_IN
};

enum comp_kind {
	C_ALL,
	C_EXISTS,
	C_EXISTS_ONE,
	C_MAP,
	C_MAP_FILTER,
	C_FILTER,
	C_TLIST,
	C_TLIST_FILTER,
	C_TMAP,
	C_TMAP_FILTER
};

struct node {
	uint8_t op;	  /* enum node_op */
	uint8_t fn;	  /* binop, comp kind, or builtin id */
	uint8_t receiver; /* N_CALL: args[0] is the receiver */
	uint8_t slot;	  /* N_LOCAL slot; N_COMP first slot */
	uint16_t nargs;
	uint16_t name_n;
	uint16_t depth;	  /* 1 + the deepest child's depth */
	uint32_t pos;	  /* byte offset in the source */
	const char *name; /* ident/select/call name (not NUL-terminated) */
	const char *qual; /* N_SELECT/N_IDENT: dotted name, NUL-terminated */
	uint32_t qual_n;
	uint32_t qual_hash;
	struct policy_value lit;
	struct node **args;
};

struct parser_out {
	struct node *root;
	size_t nodes;
	unsigned locals; /* comprehension slots needed */
};

/* Parses src[start..n) into nodes in arena a (diagnostics count lines
 * from src[0]). */
enum mm_err policy_parse_expr(struct arena *a, const char *src, size_t start,
			      size_t n, struct parser_out *out,
			      struct mm_diag *diag);
/* Fills diag with line/column and a caret excerpt for offset. */
enum mm_err policy_parse_fail(struct mm_diag *diag, enum mm_err err,
			      const char *src, size_t n, size_t off,
			      const char *what);

struct policy_expr {
	struct arena arena;
	struct node *root;
	unsigned locals;
	char *src;
	size_t src_n;
};

/* ---- evaluation --------------------------------------------------------- */

#define LOCALS_MAX 64u

struct binding {
	const char *name;
	uint32_t hash;
	uint32_t name_n;
	struct policy_value v;
};

struct policy_input {
	struct arena arena;
	struct binding binds[POLICY_BINDINGS_MAX];
	unsigned binds_n;
	bool dotted; /* some binding name contains '.' */
};

struct read_note {
	const struct node *at; /* the N_SELECT/N_IDENT read */
	struct policy_value v;
};

struct rule_note {
	struct policy_value v;
	struct policy_value lhs, rhs; /* operands of a top-level comparison */
	bool have_ops;
	unsigned reads_n;
	struct read_note reads[POLICY_READS_MAX];
};

struct policy_eval {
	struct arena arena;
	uint32_t budget;
	uint32_t steps;
	bool fatal; /* a limit error: not absorbed by && || ?: */
	uint16_t fatal_err;
	bool no_double; /* payout rule: doubles are errors */
	const struct policy_input *in;
	struct policy_value locals[LOCALS_MAX];
	struct rule_note *note; /* reads recorded here when set */
	/* last policy_run */
	const struct policy *ran;
	unsigned ran_n;		 /* rules evaluated in the last run */
	struct rule_note *notes; /* POLICY_RULES_MAX */
	struct policy_value payout;
	bool passed;
};

uint32_t policy_name_hash(const char *s, size_t n);

/* Byte equality for short names on the hot path (no libc call). */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}
struct policy_value policy_eval_node(struct policy_eval *ev,
				     const struct node *n);
struct policy_value policy_eval_root(struct policy_eval *ev,
				     const struct node *root,
				     const struct policy_input *in);
/* A comprehension node (comp.c). */
struct policy_value policy_eval_comp(struct policy_eval *ev,
				     const struct node *n);

/* An error value (and, for limit errors, the context's fatal flag). */
struct policy_value policy_eval_error(struct policy_eval *ev,
				      enum policy_error e);

/* ---- values (value.c) ---------------------------------------------------- */

/* An int or bool value, every other byte zero. */
static inline struct policy_value vint(int64_t i)
{
	struct policy_value v;

	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_INT;
	v.i = i;
	return v;
}

static inline struct policy_value vbool(bool b)
{
	struct policy_value v;

	memset(&v, 0, sizeof(v));
	v.kind = POLICY_V_BOOL;
	v.b = b;
	return v;
}

const char *policy_kind_type_name(const struct policy_value *v);
/* CEL equality: -1 for an error (no overload), 0 false, 1 true. */
int policy_value_eq(const struct policy_value *a, const struct policy_value *b);
/* Ordering: -2 when not comparable, else -1/0/1. */
int policy_value_cmp(const struct policy_value *a,
		     const struct policy_value *b);
/* Map lookup; NULL when absent. */
const struct policy_value *policy_map_find(const struct policy_value *m,
					   const struct policy_value *key);
const struct policy_value *policy_map_find_str(const struct policy_value *m,
					       const char *s, size_t n);
bool policy_utf8_valid(const char *s, size_t n);
size_t policy_utf8_len(const char *s, size_t n);
/* Shortest round-trip text for a double, CEL style ("1e+12" -> "1e12"). */
size_t policy_format_double(double d, char *buf, size_t cap);

/* ---- builtins (funcs.c) ----------------------------------------------------
 */

/* Builtin id for a call name (0 = unknown); receiver style or global. */
uint8_t policy_builtin_lookup(const char *name, size_t n, bool receiver);
struct policy_value policy_builtin_call(struct policy_eval *ev,
					const struct node *n,
					struct policy_value *args,
					unsigned argc);
struct policy_value policy_eval_binary(struct policy_eval *ev, unsigned op,
				       struct policy_value a,
				       struct policy_value b);
struct policy_value policy_make_string(struct policy_eval *ev, const char *s,
				       size_t n, uint8_t kind);

/* ---- decimals (decimal.c) ---------------------------------------------------
 */

/* Parses [-]digits[.digits] into q; false if malformed or too long. */
bool policy_decimal_parse(mpq_ptr q, const char *s, size_t n);
/* Writes q as an exact decimal if it has one, else as "n/d". */
size_t policy_decimal_format(mpq_srcptr q, char *buf, size_t cap);
struct policy_value policy_decimal_binary(struct policy_eval *ev, unsigned op,
					  struct policy_value a,
					  struct policy_value b);
/* -2 not comparable, else -1/0/1, for a decimal against a number. */
int policy_decimal_cmp(const struct policy_value *a,
		       const struct policy_value *b);

/* ---- regex (regex.c)
 * --------------------------------------------------------- */

/* 1 match, 0 no match, -1 pattern outside the subset or too large. */
int policy_regex_search(const char *pat, size_t pat_n, const char *s, size_t n);

_Static_assert(sizeof(struct policy_value) == 16, "values fit two registers");

#endif
