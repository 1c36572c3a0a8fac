/*
 * policies.h - the marketplace's rule engine: a deterministic, bounded
 * subset of Google's Common Expression Language (CEL) with an exact
 * decimal type for money, and policy files of named rules.
 *
 * A pure library: the caller passes source text and variable values; the
 * engine does no I/O and knows nothing of the ledger.  Four opaque objects:
 *
 *   struct policy_expr   one compiled expression (immutable, shareable)
 *   struct policy        a loaded policy file: named rules of one kind
 *   struct policy_input  the caller's variables (record, request, consent,
 *                        now, ...) built with the policy_v_* constructors
 *   struct policy_eval   an evaluation context: a preallocated arena, the
 *                        step budget and the last run's results.  After
 *                        policy_eval_new, evaluation allocates nothing
 *                        unless an expression builds more than the arena
 *                        holds or does decimal arithmetic (GMP).
 *
 * Values returned by an evaluation live in the context's arena and stay
 * valid until the next evaluation on that context.  A context or input is
 * used by one thread at a time; compiled expressions and policies may be
 * shared read-only between threads.
 *
 * Determinism: the same source and inputs give the same values and the
 * same explanation text on every machine (no locale, no clock, no hash
 * seeds; doubles are printed in their shortest round-trip form).
 */
#ifndef POLICIES_H
#define POLICIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mm.h"

/* Named limits.  Each one exceeded gives its own policy_error code. */
#define POLICY_SOURCE_BYTES_MAX	  ((size_t)64 * 1024) /* a file or expression */
#define POLICY_AST_NODES_MAX	  20000u /* nodes in one policy or expression */
#define POLICY_NESTING_MAX	  128u	 /* parser recursion and AST depth */
#define POLICY_RULES_MAX	  64u	 /* rules in one policy file */
#define POLICY_NAME_BYTES_MAX	  64u	 /* policy and rule names */
#define POLICY_STEPS_MAX	  100000u /* default step budget per run */
#define POLICY_STRING_BYTES_MAX	  ((size_t)64 * 1024) /* one string value */
#define POLICY_LIST_ITEMS_MAX	  10000u	      /* one list value */
#define POLICY_MAP_ENTRIES_MAX	  10000u	      /* one map value */
#define POLICY_ARENA_BYTES_MAX	  ((size_t)8 * 1024 * 1024) /* per run */
#define POLICY_INPUT_BYTES_MAX	  ((size_t)8 * 1024 * 1024) /* per input */
#define POLICY_DECIMAL_DIGITS_MAX 200u /* numerator/denominator digits */
#define POLICY_REGEX_BYTES_MAX	  256u /* a matches() pattern */
#define POLICY_BINDINGS_MAX	  32u  /* variables in one input */
#define POLICY_READS_MAX	  8u   /* variables remembered per rule */
#define POLICY_EXPLAIN_BYTES_MAX  ((size_t)16 * 1024)

/* What went wrong inside an evaluation (an error value's code). */
enum policy_error {
	POLICY_E_NONE = 0,
	POLICY_E_NO_OVERLOAD,	/* no function for these argument types */
	POLICY_E_DIV_ZERO,	/* division or modulus by zero */
	POLICY_E_OVERFLOW,	/* integer overflow */
	POLICY_E_RANGE,		/* conversion out of range, bad index */
	POLICY_E_NO_SUCH_KEY,	/* map key or field absent */
	POLICY_E_UNKNOWN_VAR,	/* identifier not bound */
	POLICY_E_CONVERSION,	/* a string does not convert */
	POLICY_E_DUPLICATE_KEY, /* a map literal repeats a key */
	POLICY_E_BAD_UTF8,	/* bytes are not UTF-8 */
	POLICY_E_BAD_REGEX,	/* pattern outside the supported subset */
	POLICY_E_DOUBLE,	/* a payout rule met a double */
	POLICY_E_STEPS,		/* limit: POLICY_STEPS_MAX (or the budget) */
	POLICY_E_STRING_SIZE,	/* limit: POLICY_STRING_BYTES_MAX */
	POLICY_E_LIST_SIZE,	/* limit: POLICY_LIST_ITEMS_MAX */
	POLICY_E_MAP_SIZE,	/* limit: POLICY_MAP_ENTRIES_MAX */
	POLICY_E_MEMORY,       /* limit: POLICY_ARENA_BYTES_MAX, or no memory */
	POLICY_E_DECIMAL_SIZE, /* limit: POLICY_DECIMAL_DIGITS_MAX */
	POLICY_E__COUNT
};

/* A short stable name for the code ("division by zero", ...). */
const char *policy_error_str(enum policy_error e);

enum policy_vkind {
	POLICY_V_NULL,
	POLICY_V_BOOL,
	POLICY_V_INT,
	POLICY_V_UINT,
	POLICY_V_DOUBLE,
	POLICY_V_STRING,
	POLICY_V_BYTES,
	POLICY_V_LIST,
	POLICY_V_MAP,
	POLICY_V_TYPE,
	POLICY_V_DECIMAL,
	POLICY_V_TIMESTAMP,
	POLICY_V_DURATION,
	POLICY_V_ERROR
};

enum policy_kind {
	POLICY_ELIGIBILITY, /* every rule is bool; eligible when all hold */
	POLICY_CONSENT,	    /* every rule is bool; matches when all hold */
	POLICY_PAYOUT,	    /* every rule is decimal; payout is their sum */
	POLICY_PROFILE	    /* anonymization profile settings */
};

struct policy_value;
struct policy_expr;
struct policy;
struct policy_input;
struct policy_eval;

/* ---- Inputs: the caller's variables ---------------------------------- */

/* A new empty input, or NULL without memory. */
struct policy_input *policy_input_new(void);
/* Frees the input and every value built in it; NULL is a no-op. */
void policy_input_free(struct policy_input *in);
/* Forgets all values and bindings, keeping the memory for reuse. */
void policy_input_clear(struct policy_input *in);

/*
 * Value constructors.  Each returns a value owned by `in`, or NULL when
 * POLICY_INPUT_BYTES_MAX or memory runs out, or the argument is invalid
 * (a string longer than POLICY_STRING_BYTES_MAX, a decimal text that is
 * not [-]digits[.digits] within POLICY_DECIMAL_DIGITS_MAX, a capacity past
 * the list/map limit).  Passing NULL on to a list, map or bind call makes
 * that call fail, so a caller may check only the final policy_input_bind.
 */
struct policy_value *policy_v_null(struct policy_input *in);
struct policy_value *policy_v_bool(struct policy_input *in, bool b);
struct policy_value *policy_v_int(struct policy_input *in, int64_t i);
struct policy_value *policy_v_uint(struct policy_input *in, uint64_t u);
struct policy_value *policy_v_double(struct policy_input *in, double d);
struct policy_value *policy_v_string(struct policy_input *in, const char *s,
				     size_t n);
struct policy_value *policy_v_bytes(struct policy_input *in, const void *p,
				    size_t n);
struct policy_value *policy_v_decimal(struct policy_input *in,
				      const char *text);
/* Seconds since 1970-01-01T00:00:00Z and nanoseconds (0..999999999). */
struct policy_value *policy_v_timestamp(struct policy_input *in, int64_t sec,
					int32_t nsec);
struct policy_value *policy_v_duration(struct policy_input *in, int64_t sec,
				       int32_t nsec);
/* An empty list/map with room for cap items/entries. */
struct policy_value *policy_v_list(struct policy_input *in, size_t cap);
struct policy_value *policy_v_map(struct policy_input *in, size_t cap);
/* Appends a copy of item.  MM_ERR_INVALID (NULL or not a list),
 * MM_ERR_LIMIT (capacity reached). */
enum mm_err policy_list_push(struct policy_value *list,
			     const struct policy_value *item);
/* Adds key -> val.  MM_ERR_INVALID (NULL, not a map, key not
 * string/int/uint/bool), MM_ERR_EXISTS (key present), MM_ERR_LIMIT. */
enum mm_err policy_map_put(struct policy_value *map,
			   const struct policy_value *key,
			   const struct policy_value *val);
/* Convenience: map_put with a string key. */
enum mm_err policy_map_put_str(struct policy_input *in,
			       struct policy_value *map, const char *key,
			       const struct policy_value *val);
/* Binds a variable name (an identifier, or a dotted name "a.b") to v.
 * MM_ERR_INVALID (NULL v or bad name), MM_ERR_EXISTS, MM_ERR_LIMIT
 * (POLICY_BINDINGS_MAX). */
enum mm_err policy_input_bind(struct policy_input *in, const char *name,
			      const struct policy_value *v);

/* ---- Reading values ---------------------------------------------------- */

enum policy_vkind policy_value_kind(const struct policy_value *v);
bool policy_value_bool(const struct policy_value *v);	  /* false if not */
int64_t policy_value_int(const struct policy_value *v);	  /* 0 if not */
uint64_t policy_value_uint(const struct policy_value *v); /* 0 if not */
double policy_value_double(const struct policy_value *v); /* 0 if not */
/* String or bytes contents (not NUL-terminated) and length; NULL if not. */
const char *policy_value_str(const struct policy_value *v, size_t *n);
/* Type name of a type value ("int", "list", ...); NULL if not. */
const char *policy_value_type_name(const struct policy_value *v);
/* List items / map entries; NULL past the end or for other kinds. */
size_t policy_value_size(const struct policy_value *v);
const struct policy_value *policy_value_at(const struct policy_value *v,
					   size_t i);
const struct policy_value *policy_value_key_at(const struct policy_value *v,
					       size_t i);
/* The map's value for a string key, or NULL. */
const struct policy_value *policy_value_get(const struct policy_value *v,
					    const char *key);
/* Timestamp/duration seconds and nanoseconds; false if not. */
bool policy_value_time(const struct policy_value *v, int64_t *sec,
		       int32_t *nsec);
/* The error code of an error value (POLICY_E_NONE otherwise). */
enum policy_error policy_value_error(const struct policy_value *v);
/*
 * Writes a deterministic, human-readable rendering (CEL-like: 16, "C50.1",
 * [1, 2], decimal 12.5) into buf (always NUL-terminated when cap > 0).
 * Returns the full length it needed, like snprintf.
 */
size_t policy_value_format(const struct policy_value *v, char *buf, size_t cap);
/* floor(v * 10^places) for a decimal, int or uint v, into *units.
 * MM_ERR_INVALID (other kinds, places > 30), MM_ERR_RANGE (not in int64). */
enum mm_err policy_value_units(const struct policy_value *v, unsigned places,
			       int64_t *units);
/* The same floor as canonical decimal digits into out[0..cap) (no sign,
 * no leading zero), for amounts past int64 (tokens of up to 18 decimals).
 * MM_ERR_INVALID, MM_ERR_RANGE (negative), MM_ERR_LIMIT (cap). */
enum mm_err policy_value_units_digits(const struct policy_value *v,
				      unsigned places, char *out, size_t cap);

/* ---- Expressions --------------------------------------------------------- */

/*
 * Parses one CEL expression.  MM_ERR_DECODE with diag line, column and a
 * message that ends in a caret excerpt of the offending line;
 * MM_ERR_LIMIT (source bytes, nodes, nesting); MM_ERR_NOMEM.  *out is
 * NULL on failure.
 */
enum mm_err policy_expr_parse(const char *src, size_t n,
			      struct policy_expr **out, struct mm_diag *diag);
void policy_expr_free(struct policy_expr *e);

/* A context with its arena preallocated; NULL without memory. */
struct policy_eval *policy_eval_new(void);
void policy_eval_free(struct policy_eval *ev);
/* Sets the step budget for later runs (1..POLICY_STEPS_MAX). */
void policy_eval_set_budget(struct policy_eval *ev, uint32_t steps);
/* Steps the last run used. */
uint32_t policy_eval_steps(const struct policy_eval *ev);

/* Evaluates e with in's bindings (in may be NULL).  Never NULL: a failed
 * evaluation returns an error value (policy_value_error). */
const struct policy_value *policy_expr_eval(struct policy_eval *ev,
					    const struct policy_expr *e,
					    const struct policy_input *in);

/* ---- Policy files (format: docs/POLICIES.md) ---------------------------- */

/*
 * Loads a policy file.  MM_ERR_DECODE (syntax, with line/column/caret in
 * diag), MM_ERR_SCHEMA (unknown kind, duplicate rule, a profile missing a
 * setting, a payout rule that can touch a double), MM_ERR_LIMIT, MM_ERR_NOMEM.
 */
enum mm_err policy_load(const char *src, size_t n, struct policy **out,
			struct mm_diag *diag);
void policy_free(struct policy *p);

enum policy_kind policy_get_kind(const struct policy *p);
const char *policy_name(const struct policy *p);
size_t policy_rule_count(const struct policy *p);
const char *policy_rule_name(const struct policy *p, size_t i);
/* The canonical bytes (see docs/POLICIES.md): NUL-terminated, owned by p. */
const char *policy_canonical(const struct policy *p, size_t *n);
/* SHA-256 of the canonical bytes: the policy's identity. */
void policy_id(const struct policy *p, uint8_t id[32]);

/*
 * Runs every rule of p against in.  MM_OK when the run completed (rules
 * may still be false or errors: see policy_run_passed); MM_ERR_LIMIT when
 * the step budget or a size limit stopped it (diag names the limit and
 * the rule); MM_ERR_REJECTED when a payout/profile rule gave an error or
 * the wrong type.  Results stay in ev until its next run.
 */
enum mm_err policy_run(struct policy_eval *ev, const struct policy *p,
		       const struct policy_input *in, struct mm_diag *diag);
/* Eligibility/consent: whether every rule was true in the last run. */
bool policy_run_passed(const struct policy_eval *ev);
/* Rule i's value in the last run (NULL if i is out of range). */
const struct policy_value *policy_run_value(const struct policy_eval *ev,
					    size_t i);
/* Payout: the sum of the rules, a decimal value (NULL if not a payout). */
const struct policy_value *policy_run_payout(const struct policy_eval *ev);
/*
 * The explanation of the last run, one line per rule, for a patient or
 * steward to read, e.g.
 *   not eligible
 *   - adult: no (patient is 18 or older): 16 >= 18; read record.age = 16
 * Writes into buf (NUL-terminated when cap > 0); returns the length needed.
 */
size_t policy_explain(const struct policy_eval *ev, char *buf, size_t cap);

#endif
