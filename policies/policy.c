/*
 * policy.c - policy files: the line format (docs/POLICIES.md), load-time
 * checks per kind, canonical bytes and SHA-256 identity, running every
 * rule, and the explanation text.
 *
 *   policy NAME
 *   kind eligibility|consent|payout|profile
 *   rule NAME "what the rule means, in plain words"
 *     <CEL expression, on indented lines>
 *
 * '#' at the start of a line begins a comment line; // comments work
 * inside expressions.  Canonical bytes: the header lines, then per rule
 * its header line and its expression's tokens joined by single spaces.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/mm_gmp.h"
#include "policies/lex.h"

_Static_assert(crypto_hash_sha256_BYTES == 32, "a policy id is a SHA-256");

#define DESC_BYTES_MAX	 200u
#define POLICY_ARENA_MAX ((size_t)32 * 1024 * 1024)
#define CANON_BYTES_MAX	 (2 * POLICY_SOURCE_BYTES_MAX + 1024)

struct rule {
	char name[POLICY_NAME_BYTES_MAX + 1];
	char desc[DESC_BYTES_MAX + 1];
	struct node *root;
	size_t expr_start, expr_end;
};

struct policy {
	struct arena arena;
	char name[POLICY_NAME_BYTES_MAX + 1];
	enum policy_kind kind;
	struct rule rules[POLICY_RULES_MAX];
	unsigned rules_n;
	char *src;
	size_t src_n;
	char *canon;
	size_t canon_n;
	uint8_t id[32];
};

static const char *const kind_names[] = {"eligibility", "consent", "payout",
					 "profile"};

struct line {
	size_t start, end; /* [start, end) without the newline */
};

static bool next_line(const char *s, size_t n, size_t *at, struct line *l)
{
	if (*at >= n)
		return false;
	l->start = *at;
	while (*at < n && s[*at] != '\n')
		(*at)++;
	l->end = *at;
	if (*at < n)
		(*at)++;
	return true;
}

static bool blank_or_comment(const char *s, const struct line *l)
{
	size_t i = l->start;

	while (i < l->end && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i == l->end || (i == l->start && s[i] == '#');
}

/* Reads a name ([a-z0-9_-], 1..POLICY_NAME_BYTES_MAX) at *i into out. */
static bool read_name(const char *s, size_t end, size_t *i, char *out)
{
	size_t k = 0;

	while (*i < end && ((s[*i] >= 'a' && s[*i] <= 'z') ||
			    (s[*i] >= '0' && s[*i] <= '9') || s[*i] == '_' ||
			    s[*i] == '-')) {
		if (k == POLICY_NAME_BYTES_MAX)
			return false;
		out[k++] = s[(*i)++];
	}
	out[k] = '\0';
	return k > 0;
}

/* "word NAME" header line; returns the name's end offset or 0. */
static size_t header(const char *s, const struct line *l, const char *word,
		     char *name)
{
	size_t k = strlen(word), i = l->start + k;

	if (l->end - l->start <= k || memcmp(s + l->start, word, k) != 0 ||
	    s[i] != ' ')
		return 0;
	i++;
	return read_name(s, l->end, &i, name) ? i : 0;
}

static int load_fail(struct policy *p, struct mm_diag *diag, int err,
		     size_t off, const char *what)
{
	return policy_parse_fail(diag, err, p->src, p->src_n, off, what);
}

static int read_kind(struct policy *p, const struct line *l,
		     struct mm_diag *diag)
{
	char word[POLICY_NAME_BYTES_MAX + 1];
	size_t end = header(p->src, l, "kind", word);

	for (size_t i = 0; end != 0 && i < MM_ARRAY_LEN(kind_names); i++)
		if (strcmp(word, kind_names[i]) == 0) {
			p->kind = (enum policy_kind)i;
			return MM_OK;
		}
	return load_fail(p, diag, end ? MM_ERR_SCHEMA : MM_ERR_DECODE, l->start,
			 "expected 'kind eligibility|consent|payout|profile'");
}

/* rule NAME "description" */
static int read_rule_header(struct policy *p, const struct line *l,
			    struct rule *r, struct mm_diag *diag)
{
	size_t i = header(p->src, l, "rule", r->name), k = 0;

	if (i == 0)
		return load_fail(p, diag, MM_ERR_DECODE, l->start,
				 "expected 'rule NAME \"description\"'");
	if (i + 1 >= l->end || p->src[i] != ' ' || p->src[i + 1] != '"')
		return load_fail(p, diag, MM_ERR_DECODE, i,
				 "expected a quoted description");
	for (i += 2; i < l->end && p->src[i] != '"'; i++) {
		if (k == DESC_BYTES_MAX || (unsigned char)p->src[i] < 0x20)
			return load_fail(p, diag, MM_ERR_LIMIT, i,
					 "description too long or has control "
					 "characters");
		r->desc[k++] = p->src[i];
	}
	r->desc[k] = '\0';
	while (i + 1 < l->end && p->src[i + 1] == '\r')
		i++;
	if (i + 1 != l->end)
		return load_fail(p, diag, MM_ERR_DECODE, i,
				 "expected the description to end the line");
	if (!policy_utf8_valid(r->desc, k))
		return load_fail(p, diag, MM_ERR_DECODE, l->start,
				 "description is not UTF-8");
	return MM_OK;
}

static int add_rule(struct policy *p, const struct line *l, size_t *at,
		    struct mm_diag *diag)
{
	struct rule *r;
	struct line e;
	int rc;

	if (p->rules_n >= POLICY_RULES_MAX)
		return load_fail(p, diag, MM_ERR_LIMIT, l->start,
				 "too many rules (POLICY_RULES_MAX)");
	r = &p->rules[p->rules_n];
	rc = read_rule_header(p, l, r, diag);
	for (unsigned i = 0; rc == MM_OK && i < p->rules_n; i++)
		if (strcmp(p->rules[i].name, r->name) == 0)
			rc = load_fail(p, diag, MM_ERR_SCHEMA, l->start,
				       "duplicate rule name");
	if (rc != MM_OK)
		return rc;
	r->expr_start = r->expr_end = *at;
	while (*at < p->src_n && (p->src[*at] == ' ' || p->src[*at] == '\t' ||
				  p->src[*at] == '\n' || p->src[*at] == '\r' ||
				  p->src[*at] == '#')) {
		next_line(p->src, p->src_n, at, &e);
		if (p->src[e.start] != '#')
			r->expr_end = e.end;
	}
	p->rules_n++;
	return MM_OK;
}

static int read_lines(struct policy *p, struct mm_diag *diag)
{
	size_t at = 0;
	struct line l;
	int rc = MM_OK, seen = 0;

	while (rc == MM_OK && next_line(p->src, p->src_n, &at, &l)) {
		if (blank_or_comment(p->src, &l))
			continue;
		if (seen == 0 && header(p->src, &l, "policy", p->name) != 0)
			seen = 1;
		else if (seen == 1)
			rc = read_kind(p, &l, diag), seen = 2;
		else if (seen == 2)
			rc = add_rule(p, &l, &at, diag);
		else
			rc = load_fail(p, diag, MM_ERR_DECODE, l.start,
				       "expected 'policy NAME'");
	}
	if (rc == MM_OK && (seen < 2 || p->rules_n == 0))
		rc = load_fail(p, diag, MM_ERR_SCHEMA, p->src_n,
			       "expected 'policy NAME', 'kind KIND' and rules");
	return rc;
}

/* ---- load-time checks
 * ---------------------------------------------------------- */

/* Whether the tree can produce a double: a double literal or double(). */
static const struct node *touches_double(const struct node *n)
{
	if (n->op == N_LIT && n->lit.kind == POLICY_V_DOUBLE)
		return n;
	if (n->op == N_CALL && n->name_n == 6 &&
	    memcmp(n->name, "double", 6) == 0)
		return n;
	for (unsigned i = 0; i < n->nargs; i++) {
		const struct node *d = touches_double(n->args[i]);

		if (d != NULL)
			return d;
	}
	return NULL;
}

static const struct {
	const char *name;
	uint8_t kind;
} profile_settings[] = {
	{"quasi_identifiers", POLICY_V_LIST},
	{"hierarchies", POLICY_V_MAP},
	{"k", POLICY_V_INT},
	{"l", POLICY_V_INT},
	{"suppression_max", POLICY_V_DECIMAL},
};

/* A profile's rules are constants of the right kinds, all present. */
static int check_profile(struct policy *p, struct mm_diag *diag)
{
	struct policy_eval *ev = policy_eval_new();
	int rc = ev ? MM_OK : mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");

	for (size_t i = 0; rc == MM_OK && i < MM_ARRAY_LEN(profile_settings);
	     i++) {
		const struct policy_value *v = NULL;

		for (unsigned r = 0; r < p->rules_n; r++)
			if (strcmp(p->rules[r].name,
				   profile_settings[i].name) == 0) {
				struct policy_expr e = {
					.root = p->rules[r].root};

				v = policy_expr_eval(ev, &e, NULL);
				if (v->kind != profile_settings[i].kind ||
				    (v->kind == POLICY_V_INT && v->i < 1))
					rc = load_fail(p, diag, MM_ERR_SCHEMA,
						       p->rules[r].expr_start,
						       "profile setting has "
						       "the wrong type");
			}
		if (rc == MM_OK && v == NULL)
			rc = mm_fail(diag, MM_ERR_SCHEMA, 0,
				     "profile lacks the rule '%s'",
				     profile_settings[i].name);
	}
	policy_eval_free(ev);
	return rc;
}

static int parse_rules(struct policy *p, struct mm_diag *diag)
{
	size_t nodes = 0;

	for (unsigned i = 0; i < p->rules_n; i++) {
		struct rule *r = &p->rules[i];
		struct parser_out po;
		const struct node *d;
		int rc = policy_parse_expr(&p->arena, p->src, r->expr_start,
					   r->expr_end, &po, diag);

		if (rc != MM_OK)
			return rc;
		nodes += po.nodes;
		if (nodes > POLICY_AST_NODES_MAX)
			return load_fail(
				p, diag, MM_ERR_LIMIT, r->expr_start,
				"too many nodes (POLICY_AST_NODES_MAX)");
		r->root = po.root;
		d = p->kind == POLICY_PAYOUT ? touches_double(po.root) : NULL;
		if (d != NULL)
			return load_fail(p, diag, MM_ERR_SCHEMA, d->pos,
					 "a payout rule may not use doubles");
	}
	return p->kind == POLICY_PROFILE ? check_profile(p, diag) : MM_OK;
}

/* ---- canonical bytes
 * --------------------------------------------------------------- */

static bool canon_put(struct policy *p, const char *s, size_t n)
{
	if (n > CANON_BYTES_MAX - p->canon_n)
		return false;
	memcpy(p->canon + p->canon_n, s, n);
	p->canon_n += n;
	return true;
}

static bool canon_expr(struct policy *p, const struct rule *r)
{
	struct lexer lx = {
		.src = p->src, .n = r->expr_end, .pos = r->expr_start};
	struct token t;
	bool ok = true, first = true;

	lx.buf = malloc(r->expr_end - r->expr_start + 1);
	if (lx.buf == NULL)
		return false;
	while (ok && policy_lex_next(&lx, &t) == MM_OK && t.type != T_EOF) {
		size_t s = t.type == T_QIDENT ? t.start - 1 : t.start;
		size_t e = t.type == T_QIDENT ? t.start + t.len + 1
					      : t.start + t.len;

		ok = canon_put(p, first ? "  " : " ", first ? 2 : 1) &&
		     canon_put(p, p->src + s, e - s);
		first = false;
	}
	free(lx.buf);
	return ok && canon_put(p, "\n", 1);
}

static int make_canonical(struct policy *p, struct mm_diag *diag)
{
	char line[POLICY_NAME_BYTES_MAX + DESC_BYTES_MAX + 32];
	bool ok;
	int n;

	p->canon = policy_arena_alloc(&p->arena, CANON_BYTES_MAX + 1);
	if (p->canon == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	n = snprintf(line, sizeof(line), "policy %s\nkind %s\n", p->name,
		     kind_names[p->kind]);
	ok = canon_put(p, line, (size_t)n);
	for (unsigned i = 0; ok && i < p->rules_n; i++) {
		n = snprintf(line, sizeof(line), "rule %s \"%s\"\n",
			     p->rules[i].name, p->rules[i].desc);
		ok = canon_put(p, line, (size_t)n) &&
		     canon_expr(p, &p->rules[i]);
	}
	if (!ok)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "canonical form failed");
	p->canon[p->canon_n] = '\0';
	/* libsodium's SHA-256 is a pure function of its input (no state, no
	 * allocation); sodium_init is idempotent and documented as required
	 * before any other call. */
	if (sodium_init() < 0)
		return mm_fail(diag, MM_ERR_CRYPTO, 0, "libsodium init failed");
	crypto_hash_sha256(p->id, (const unsigned char *)p->canon, p->canon_n);
	return MM_OK;
}

enum mm_err policy_load(const char *src, size_t n, struct policy **out,
			struct mm_diag *diag)
{
	struct policy *p = NULL;
	int rc;

	*out = NULL;
	if (src == NULL || n > POLICY_SOURCE_BYTES_MAX)
		return mm_fail(diag, src ? MM_ERR_LIMIT : MM_ERR_INVALID, 0,
			       "source missing or longer than "
			       "POLICY_SOURCE_BYTES_MAX");
	mm_gmp_init();
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	policy_arena_init(&p->arena, POLICY_ARENA_MAX);
	p->src = policy_arena_alloc(&p->arena, n + 1);
	rc = p->src ? MM_OK : mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	if (rc != MM_OK)
		goto fail;
	memcpy(p->src, src, n);
	p->src[n] = '\0';
	p->src_n = n;
	rc = memchr(src, '\0', n)
		     ? load_fail(p, diag, MM_ERR_DECODE,
				 (size_t)((const char *)memchr(src, '\0', n) -
					  src),
				 "NUL byte in source")
		     : read_lines(p, diag);
	if (rc == MM_OK)
		rc = parse_rules(p, diag);
	if (rc == MM_OK)
		rc = make_canonical(p, diag);
	if (rc != MM_OK)
		goto fail;
	*out = p;
	return MM_OK;
fail:
	policy_free(p);
	return rc;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	policy_arena_release(&p->arena);
	free(p);
}

enum policy_kind policy_get_kind(const struct policy *p)
{
	return p->kind;
}
const char *policy_name(const struct policy *p)
{
	return p->name;
}
size_t policy_rule_count(const struct policy *p)
{
	return p->rules_n;
}

const char *policy_rule_name(const struct policy *p, size_t i)
{
	return i < p->rules_n ? p->rules[i].name : NULL;
}

const char *policy_canonical(const struct policy *p, size_t *n)
{
	if (n != NULL)
		*n = p->canon_n;
	return p->canon;
}

void policy_id(const struct policy *p, uint8_t id[32])
{
	memcpy(id, p->id, 32);
}

/* ---- running
 * --------------------------------------------------------------------- */

static bool is_relation(const struct node *n)
{
	return n->op == N_BINARY && n->fn >= B_EQ && n->fn <= B_IN;
}

/* Evaluates one rule, keeping a top-level comparison's operands. */
static void run_rule(struct policy_eval *ev, const struct node *root,
		     struct rule_note *rn)
{
	memset(rn, 0, offsetof(struct rule_note, reads));
	ev->note = rn;
	if (!is_relation(root) || ++ev->steps > ev->budget) {
		rn->v = policy_eval_node(ev, root);
		return;
	}
	rn->lhs = policy_eval_node(ev, root->args[0]);
	if (rn->lhs.kind == POLICY_V_ERROR) {
		rn->v = rn->lhs;
		return;
	}
	rn->rhs = policy_eval_node(ev, root->args[1]);
	if (rn->rhs.kind == POLICY_V_ERROR) {
		rn->v = rn->rhs;
		return;
	}
	rn->have_ops = true;
	rn->v = policy_eval_binary(ev, root->fn, rn->lhs, rn->rhs);
}

static int run_fail(struct policy_eval *ev, const struct policy *p, unsigned i,
		    int err, struct mm_diag *diag)
{
	const struct policy_value *v = &ev->notes[i].v;

	return mm_fail(diag, err, p->rules[i].expr_start, "rule '%s': %s",
		       p->rules[i].name,
		       v->kind == POLICY_V_ERROR ? policy_error_str(v->err)
						 : "wrong result type");
}

/* Adds rule i's value into the payout sum. */
static int add_payout(struct policy_eval *ev, const struct policy *p,
		      unsigned i, struct mm_diag *diag)
{
	const struct policy_value *v = &ev->notes[i].v;

	if (v->kind != POLICY_V_DECIMAL && v->kind != POLICY_V_INT &&
	    v->kind != POLICY_V_UINT)
		return run_fail(ev, p, i, MM_ERR_REJECTED, diag);
	ev->payout = policy_decimal_binary(ev, B_ADD, ev->payout, *v);
	if (ev->payout.kind == POLICY_V_ERROR)
		return mm_fail(diag, MM_ERR_LIMIT, p->rules[i].expr_start,
			       "payout sum: %s",
			       policy_error_str(ev->payout.err));
	return MM_OK;
}

static int rule_done(struct policy_eval *ev, const struct policy *p, unsigned i,
		     struct mm_diag *diag)
{
	const struct policy_value *v = &ev->notes[i].v;

	if (ev->fatal)
		return run_fail(ev, p, i, MM_ERR_LIMIT, diag);
	switch (p->kind) {
	case POLICY_ELIGIBILITY:
	case POLICY_CONSENT:
		ev->passed = ev->passed && v->kind == POLICY_V_BOOL && v->b;
		return MM_OK;
	case POLICY_PAYOUT:
		return add_payout(ev, p, i, diag);
	case POLICY_PROFILE:
		return v->kind == POLICY_V_ERROR
			       ? run_fail(ev, p, i, MM_ERR_REJECTED, diag)
			       : MM_OK;
	}
	return MM_OK;
}

enum mm_err policy_run(struct policy_eval *ev, const struct policy *p,
		       const struct policy_input *in, struct mm_diag *diag)
{
	int rc = MM_OK;

	policy_arena_reset(&ev->arena);
	ev->steps = 0;
	ev->in = in;
	ev->fatal = false;
	ev->ran = p;
	ev->passed = true;
	ev->no_double = p->kind == POLICY_PAYOUT;
	memset(&ev->payout, 0, sizeof(ev->payout));
	ev->payout.kind = POLICY_V_INT;
	ev->ran_n = 0;
	for (unsigned i = 0; i < p->rules_n && rc == MM_OK; i++) {
		run_rule(ev, p->rules[i].root, &ev->notes[i]);
		ev->ran_n = i + 1;
		rc = rule_done(ev, p, i, diag);
	}
	ev->note = NULL;
	if (rc != MM_OK)
		ev->passed = false;
	return rc;
}

bool policy_run_passed(const struct policy_eval *ev)
{
	return ev->ran != NULL && ev->passed &&
	       (ev->ran->kind == POLICY_ELIGIBILITY ||
		ev->ran->kind == POLICY_CONSENT);
}

const struct policy_value *policy_run_value(const struct policy_eval *ev,
					    size_t i)
{
	if (ev->ran == NULL || i >= ev->ran_n)
		return NULL;
	return &ev->notes[i].v;
}

const struct policy_value *policy_run_payout(const struct policy_eval *ev)
{
	if (ev->ran == NULL || ev->ran->kind != POLICY_PAYOUT)
		return NULL;
	return &ev->payout;
}

/* ---- explanation
 * ------------------------------------------------------------------ */

struct out {
	char *buf;
	size_t cap;
	size_t len;
};

static void emit(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL,
		      o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->len += (size_t)k;
}

static void emit_value(struct out *o, const struct policy_value *v)
{
	char tmp[256];

	policy_value_format(v, tmp, sizeof(tmp));
	emit(o, "%s", tmp);
}

static const char *verdict(const struct policy_eval *ev)
{
	switch (ev->ran->kind) {
	case POLICY_ELIGIBILITY:
		return ev->passed ? "eligible" : "not eligible";
	case POLICY_CONSENT:
		return ev->passed ? "consent matches"
				  : "consent does not match";
	case POLICY_PAYOUT:
		return "payout";
	case POLICY_PROFILE:
		return "anonymization profile";
	}
	return "";
}

static const char *rule_word(const struct policy_eval *ev,
			     const struct policy_value *v)
{
	if (v->kind == POLICY_V_ERROR)
		return "could not be decided";
	if (ev->ran->kind == POLICY_ELIGIBILITY ||
	    ev->ran->kind == POLICY_CONSENT)
		return v->kind == POLICY_V_BOOL ? (v->b ? "yes" : "no")
						: "not a yes/no answer";
	return "";
}

static void explain_rule(struct out *o, const struct policy_eval *ev,
			 unsigned i)
{
	static const char *const ops[] = {
		[B_EQ] = "==", [B_NE] = "!=", [B_LT] = "<", [B_LE] = "<=",
		[B_GT] = ">",  [B_GE] = ">=", [B_IN] = "in"};
	const struct rule *r = &ev->ran->rules[i];
	const struct rule_note *rn = &ev->notes[i];

	emit(o, "- %s (%s): %s", r->name, r->desc, rule_word(ev, &rn->v));
	if (rn->v.kind == POLICY_V_ERROR)
		emit(o, " (%s)", policy_error_str(rn->v.err));
	else if (ev->ran->kind > POLICY_CONSENT)
		emit_value(o, &rn->v);
	if (rn->have_ops) {
		emit(o, ": ");
		emit_value(o, &rn->lhs);
		emit(o, " %s ", ops[r->root->fn]);
		emit_value(o, &rn->rhs);
	}
	for (unsigned k = 0; k < rn->reads_n; k++) {
		emit(o, k == 0 ? "; read " : ", ");
		emit(o, "%.*s = ", (int)rn->reads[k].at->qual_n,
		     rn->reads[k].at->qual);
		emit_value(o, &rn->reads[k].v);
	}
	emit(o, "\n");
}

size_t policy_explain(const struct policy_eval *ev, char *buf, size_t cap)
{
	struct out o = {buf, cap, 0};

	if (cap > 0)
		buf[0] = '\0';
	if (ev->ran == NULL)
		return 0;
	emit(&o, "%s", verdict(ev));
	if (ev->ran->kind == POLICY_PAYOUT) {
		emit(&o, " ");
		emit_value(&o, &ev->payout);
	}
	emit(&o, "\n");
	for (unsigned i = 0; i < ev->ran_n; i++)
		explain_rule(&o, ev, i);
	if (ev->ran_n < ev->ran->rules_n)
		emit(&o, "- (evaluation stopped; %u rule(s) not evaluated)\n",
		     ev->ran->rules_n - ev->ran_n);
	return o.len;
}
