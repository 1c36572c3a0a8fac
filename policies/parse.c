/* parse.c - recursive-descent CEL parser into a syntax tree held in an
 * arena; recognizes the macros (has, all, exists, exists_one, map, filter,
 * transformList, transformMap) and binds comprehension variables to slots. */
#include <string.h>

#include "policies/lex.h"

struct parser {
	struct lexer lx;
	struct token tok; /* current token */
	struct arena *arena;
	size_t nodes;
	unsigned depth;
	unsigned slots;
	const char *src;
	size_t n;
};

static int expr(struct parser *p, struct node **out);

static int fail(struct parser *p, size_t off, const char *what)
{
	return policy_parse_fail(p->lx.diag, MM_ERR_DECODE, p->src, p->n, off,
				 what);
}

static int advance(struct parser *p)
{
	return policy_lex_next(&p->lx, &p->tok);
}

static int expect(struct parser *p, int type, const char *what)
{
	if (p->tok.type != type)
		return fail(p, p->tok.start, what);
	return advance(p);
}

static struct node *node_new(struct parser *p, uint8_t op, size_t pos,
			     unsigned nargs)
{
	struct node *n;

	if (p->nodes >= POLICY_AST_NODES_MAX)
		return NULL;
	n = policy_arena_alloc(p->arena, sizeof(*n));
	if (n == NULL)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->op = op;
	n->pos = (uint32_t)pos;
	n->nargs = (uint16_t)nargs;
	n->depth = 1;
	if (nargs > 0) {
		n->args =
			policy_arena_alloc(p->arena, nargs * sizeof(*n->args));
		if (n->args == NULL)
			return NULL;
		memset(n->args, 0, nargs * sizeof(*n->args));
	}
	p->nodes++;
	return n;
}

static int node_fail(struct parser *p, size_t pos)
{
	if (p->nodes >= POLICY_AST_NODES_MAX)
		return policy_parse_fail(
			p->lx.diag, MM_ERR_LIMIT, p->src, p->n, pos,
			"too many nodes (POLICY_AST_NODES_MAX)");
	return policy_parse_fail(p->lx.diag, MM_ERR_NOMEM, p->src, p->n, pos,
				 "out of memory");
}

/* Sets child i and checks the depth limit. */
static int set_arg(struct parser *p, struct node *n, unsigned i,
		   struct node *child)
{
	n->args[i] = child;
	if (child->depth + 1 > n->depth)
		n->depth = (uint16_t)(child->depth + 1);
	if (n->depth > POLICY_NESTING_MAX)
		return policy_parse_fail(p->lx.diag, MM_ERR_LIMIT, p->src, p->n,
					 n->pos,
					 "expression nested too deeply "
					 "(POLICY_NESTING_MAX)");
	return MM_OK;
}

static int binary(struct parser *p, uint8_t op, uint8_t fn, size_t pos,
		  struct node **lhs, struct node *rhs)
{
	struct node *n = node_new(p, op, pos, 2);
	int rc;

	if (n == NULL)
		return node_fail(p, pos);
	n->fn = fn;
	rc = set_arg(p, n, 0, *lhs);
	if (rc == MM_OK)
		rc = set_arg(p, n, 1, rhs);
	*lhs = n;
	return rc;
}

static bool tok_is(const struct parser *p, const char *word)
{
	size_t k = strlen(word);

	return p->tok.type == T_IDENT && p->tok.len == k &&
	       memcmp(p->src + p->tok.start, word, k) == 0;
}

static bool reserved(const char *s, size_t n)
{
	static const char *const words[] = {
		"as",	     "break",  "const",	 "continue", "else",  "for",
		"function",  "if",     "import", "let",	     "loop",  "package",
		"namespace", "return", "var",	 "void",     "while", "in"};
	for (size_t i = 0; i < MM_ARRAY_LEN(words); i++)
		if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
			return true;
	return false;
}

/* ---- literals -------------------------------------------------------------
 */

static int literal(struct parser *p, struct node **out)
{
	struct node *n = node_new(p, N_LIT, p->tok.start, 0);
	struct policy_value *v;
	char *s;

	if (n == NULL)
		return node_fail(p, p->tok.start);
	v = &n->lit;
	switch (p->tok.type) {
	case T_INT:
		if (p->tok.u > INT64_MAX)
			return fail(p, p->tok.start,
				    "integer literal out of range");
		v->kind = POLICY_V_INT;
		v->i = (int64_t)p->tok.u;
		break;
	case T_UINT:
		v->kind = POLICY_V_UINT;
		v->u = p->tok.u;
		break;
	case T_DOUBLE:
		v->kind = POLICY_V_DOUBLE;
		v->d = p->tok.d;
		break;
	default:
		s = policy_arena_alloc(p->arena, p->lx.buf_n + 1);
		if (s == NULL)
			return node_fail(p, p->tok.start);
		memcpy(s, p->lx.buf, p->lx.buf_n);
		s[p->lx.buf_n] = '\0';
		v->kind = p->tok.type == T_STRING ? POLICY_V_STRING
						  : POLICY_V_BYTES;
		v->s = s;
		v->n = (uint32_t)p->lx.buf_n;
	}
	*out = n;
	return advance(p);
}

/* Consumes the current token as a literal node holding v. */
static int token_literal(struct parser *p, struct policy_value v,
			 struct node **out)
{
	struct node *n = node_new(p, N_LIT, p->tok.start, 0);

	if (n == NULL)
		return node_fail(p, p->tok.start);
	n->lit = v;
	*out = n;
	return advance(p);
}

static int word_literal(struct parser *p, struct node **out, bool *done)
{
	struct policy_value v = vbool(tok_is(p, "true"));

	*done = tok_is(p, "true") || tok_is(p, "false") || tok_is(p, "null");
	if (!*done)
		return MM_OK;
	if (tok_is(p, "null"))
		v.kind = POLICY_V_NULL; /* every other byte is zero */
	return token_literal(p, v, out);
}

/* ---- lists, maps, argument lists ------------------------------------------
 */

#define ITEMS_MAX 4096u

struct cell {
	struct node *n;
	struct cell *next;
};

/* Appends one parsed expression to the chain. */
static int item(struct parser *p, struct cell ***tail, unsigned *k)
{
	struct cell *c = policy_arena_alloc(p->arena, sizeof(*c));
	int rc;

	if (c == NULL)
		return node_fail(p, p->tok.start);
	if (*k + 1 > ITEMS_MAX)
		return fail(p, p->tok.start, "too many items");
	c->next = NULL;
	rc = expr(p, &c->n);
	**tail = c;
	*tail = &c->next;
	(*k)++;
	return rc;
}

/* Parses expressions separated by commas up to `close` (a trailing comma
 * allowed when allow_trailing); map=true reads key ':' value pairs. */
static int items(struct parser *p, int close, bool map, bool allow_trailing,
		 struct cell **head, unsigned *k)
{
	struct cell **tail = head;
	int rc = MM_OK;

	while (p->tok.type != close) {
		rc = item(p, &tail, k);
		if (rc == MM_OK && map) {
			rc = expect(p, ':', "expected ':'");
			if (rc == MM_OK)
				rc = item(p, &tail, k);
		}
		if (rc != MM_OK)
			return rc;
		if (p->tok.type != ',')
			break;
		rc = advance(p);
		if (rc == MM_OK && p->tok.type == close && !allow_trailing)
			return fail(p, p->tok.start, "expected an expression");
		if (rc != MM_OK)
			return rc;
	}
	if (p->tok.type != close)
		return fail(p, p->tok.start,
			    close == ')'   ? "expected ')'"
			    : close == ']' ? "expected ']'"
					   : "expected '}'");
	return advance(p);
}

/* A list of literals becomes one literal, built once at parse time. */
static int fold_list(struct parser *p, struct node *n)
{
	struct policy_value *items;

	for (unsigned i = 0; i < n->nargs; i++)
		if (n->args[i]->op != N_LIT)
			return MM_OK;
	items = policy_arena_alloc(p->arena,
				   (n->nargs ? n->nargs : 1) * sizeof(*items));
	if (items == NULL)
		return node_fail(p, n->pos);
	for (unsigned i = 0; i < n->nargs; i++)
		items[i] = n->args[i]->lit;
	n->lit.kind = POLICY_V_LIST;
	n->lit.items = items;
	n->lit.n = n->nargs;
	n->op = N_LIT;
	n->nargs = 0;
	return MM_OK;
}

/* Parses the items after the opening token then builds node op with
 * `first` (when not NULL) and them as args. */
static int aggregate(struct parser *p, uint8_t op, int close, bool map,
		     struct node *first, struct node **out)
{
	size_t pos = first ? first->pos : p->tok.start;
	struct cell *head = NULL;
	unsigned k = first ? 1 : 0, i = 0;
	struct node *n;
	int rc;

	rc = advance(p);
	if (rc == MM_OK)
		rc = items(p, close, map, op != N_CALL, &head, &k);
	if (rc != MM_OK)
		return rc;
	n = node_new(p, op, pos, k);
	if (n == NULL)
		return node_fail(p, pos);
	if (first != NULL)
		rc = set_arg(p, n, i++, first);
	for (; head != NULL && rc == MM_OK; head = head->next)
		rc = set_arg(p, n, i++, head->n);
	*out = n;
	if (rc == MM_OK && op == N_LIST)
		rc = fold_list(p, n);
	return rc;
}

/* ---- macros
 * ------------------------------------------------------------------ */

/* Rewrites identifiers named like the variable into slot references. */
static void bind_var(struct node *n, const char *name, size_t len, uint8_t slot)
{
	if (n == NULL)
		return;
	if (n->op == N_IDENT && n->name_n == len &&
	    memcmp(n->name, name, len) == 0) {
		n->op = N_LOCAL;
		n->slot = slot;
		n->qual = NULL;
		return;
	}
	if ((n->op == N_SELECT || n->op == N_HAS) && n->qual != NULL &&
	    n->qual_n > len && n->qual[len] == '.' &&
	    memcmp(n->qual, name, len) == 0)
		n->qual = NULL; /* x.y with x local is not the variable "x.y" */
	for (unsigned i = 0; i < n->nargs; i++)
		bind_var(n->args[i], name, len, slot);
}

struct macro {
	const char *name;
	uint8_t kind;
	uint8_t vars; /* iteration variables */
	uint8_t args; /* arguments after the variables */
};

static const struct macro macros[] = {
	{"all", C_ALL, 1, 1},
	{"all", C_ALL, 2, 1},
	{"exists", C_EXISTS, 1, 1},
	{"exists", C_EXISTS, 2, 1},
	{"exists_one", C_EXISTS_ONE, 1, 1},
	{"existsOne", C_EXISTS_ONE, 1, 1},
	{"existsOne", C_EXISTS_ONE, 2, 1},
	{"exists_one", C_EXISTS_ONE, 2, 1},
	{"map", C_MAP, 1, 1},
	{"map", C_MAP_FILTER, 1, 2},
	{"filter", C_FILTER, 1, 1},
	{"transformList", C_TLIST, 2, 1},
	{"transformList", C_TLIST_FILTER, 2, 2},
	{"transformMap", C_TMAP, 2, 1},
	{"transformMap", C_TMAP_FILTER, 2, 2},
};

static const struct macro *find_macro(const struct node *call)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(macros); i++) {
		const struct macro *m = &macros[i];
		bool vars_ok = true;

		if (strlen(m->name) != call->name_n ||
		    memcmp(m->name, call->name, call->name_n) != 0 ||
		    call->nargs != 1u + m->vars + m->args)
			continue;
		for (unsigned v = 0; v < m->vars; v++)
			vars_ok = vars_ok && call->args[1 + v]->op == N_IDENT;
		if (vars_ok)
			return m;
	}
	return NULL;
}

/* call = receiver.name(args) with receiver in args[0]: a comprehension
 * when it matches a macro.  Args become [range, body...]. */
static int macro_call(struct parser *p, struct node *call)
{
	const struct macro *m = find_macro(call);
	unsigned base;

	if (m == NULL)
		return MM_OK;
	if (p->slots + m->vars > LOCALS_MAX)
		return policy_parse_fail(p->lx.diag, MM_ERR_LIMIT, p->src, p->n,
					 call->pos, "too many comprehensions");
	base = p->slots;
	p->slots += m->vars;
	for (unsigned v = 0; v < m->vars; v++) {
		const struct node *var = call->args[1 + v];

		for (unsigned a = 0; a < m->args; a++)
			bind_var(call->args[1 + m->vars + a], var->name,
				 var->name_n, (uint8_t)(base + v));
	}
	for (unsigned a = 0; a < m->args; a++)
		call->args[1 + a] = call->args[1 + m->vars + a];
	call->nargs = (uint16_t)(1 + m->args);
	call->op = N_COMP;
	call->fn = m->kind;
	call->slot = (uint8_t)base;
	call->receiver = m->vars; /* reused: variable count */
	return MM_OK;
}

/* ---- primaries and members
 * ------------------------------------------------------ */

/* The dotted name "a.b.c" of an ident/select chain, for variables bound
 * under qualified names. */
static int set_qual(struct parser *p, struct node *n, const struct node *of)
{
	size_t len = n->name_n;
	char *q;

	if (of != NULL) {
		if (of->qual == NULL)
			return MM_OK;
		len += of->qual_n + 1;
	}
	q = policy_arena_alloc(p->arena, len + 1);
	if (q == NULL)
		return node_fail(p, n->pos);
	if (of != NULL) {
		memcpy(q, of->qual, of->qual_n);
		q[of->qual_n] = '.';
	}
	memcpy(q + len - n->name_n, n->name, n->name_n);
	q[len] = '\0';
	n->qual = q;
	n->qual_n = (uint32_t)len;
	n->qual_hash = policy_name_hash(q, len);
	return MM_OK;
}

static void set_name(struct node *n, const char *src, const struct token *t)
{
	n->name = src + t->start;
	n->name_n = (uint16_t)(t->len > 0xffff ? 0xffff : t->len);
}

static int call_finish(struct parser *p, struct node *n, const struct token *t,
		       bool receiver)
{
	set_name(n, p->src, t);
	n->receiver = receiver;
	n->fn = policy_builtin_lookup(n->name, n->name_n, receiver);
	if (!receiver && n->name_n == 3 && memcmp(n->name, "has", 3) == 0) {
		if (n->nargs != 1 || n->args[0]->op != N_SELECT)
			return fail(p, t->start,
				    "has() needs a field selection");
		n->args[0]->op = N_HAS;
		*n = *n->args[0];
		return MM_OK;
	}
	return receiver ? macro_call(p, n) : MM_OK;
}

static int ident(struct parser *p, struct node **out)
{
	struct token t = p->tok;
	struct node *n;
	int rc;

	if (reserved(p->src + t.start, t.len))
		return fail(p, t.start, "reserved word");
	rc = advance(p);
	if (rc != MM_OK)
		return rc;
	if (p->tok.type == '(') {
		rc = aggregate(p, N_CALL, ')', false, NULL, out);
		if (rc == MM_OK)
			(*out)->pos = (uint32_t)t.start;
		return rc == MM_OK ? call_finish(p, *out, &t, false) : rc;
	}
	if (p->tok.type == '{')
		return fail(p, p->tok.start,
			    "message construction is not supported");
	n = node_new(p, N_IDENT, t.start, 0);
	if (n == NULL)
		return node_fail(p, t.start);
	set_name(n, p->src, &t);
	*out = n;
	return set_qual(p, n, NULL);
}

static int primary(struct parser *p, struct node **out)
{
	bool done = false;
	int rc;

	switch (p->tok.type) {
	case '(':
		rc = advance(p);
		if (rc == MM_OK)
			rc = expr(p, out);
		return rc == MM_OK ? expect(p, ')', "expected ')'") : rc;
	case '[':
		return aggregate(p, N_LIST, ']', false, NULL, out);
	case '{':
		return aggregate(p, N_MAP, '}', true, NULL, out);
	case T_INT:
	case T_UINT:
	case T_DOUBLE:
	case T_STRING:
	case T_BYTES:
		return literal(p, out);
	case '.':
		rc = advance(p);
		if (rc == MM_OK && p->tok.type != T_IDENT)
			return fail(p, p->tok.start,
				    "expected a name after '.'");
		return rc == MM_OK ? ident(p, out) : rc;
	case T_IDENT:
		rc = word_literal(p, out, &done);
		return done || rc != MM_OK ? rc : ident(p, out);
	case T_EOF:
		return fail(p, p->tok.start, "unexpected end of expression");
	}
	return fail(p, p->tok.start, "expected an expression");
}

static int select_or_call(struct parser *p, struct node **n)
{
	struct token t;
	struct node *s;
	int rc = advance(p);

	if (rc != MM_OK)
		return rc;
	t = p->tok;
	if (t.type != T_IDENT && t.type != T_QIDENT)
		return fail(p, t.start, "expected a field name after '.'");
	rc = advance(p);
	if (rc != MM_OK)
		return rc;
	if (t.type == T_IDENT && p->tok.type == '(') {
		rc = aggregate(p, N_CALL, ')', false, *n, n);
		return rc == MM_OK ? call_finish(p, *n, &t, true) : rc;
	}
	s = node_new(p, N_SELECT, t.start, 1);
	if (s == NULL)
		return node_fail(p, t.start);
	set_name(s, p->src, &t);
	rc = set_arg(p, s, 0, *n);
	if (rc == MM_OK && t.type == T_IDENT)
		rc = set_qual(p, s, *n);
	*n = s;
	return rc;
}

static int member_rest(struct parser *p, struct node **n)
{
	int rc = MM_OK;

	while (rc == MM_OK) {
		if (p->tok.type == '.') {
			rc = select_or_call(p, n);
		} else if (p->tok.type == '[') {
			size_t pos = p->tok.start;
			struct node *idx = NULL;

			rc = advance(p);
			if (rc == MM_OK)
				rc = expr(p, &idx);
			if (rc == MM_OK)
				rc = expect(p, ']', "expected ']'");
			if (rc == MM_OK)
				rc = binary(p, N_INDEX, 0, pos, n, idx);
		} else {
			break;
		}
	}
	return rc;
}

/* -9223372036854775808 is a literal, not the negation of one. */
static int min_int(struct parser *p, struct node **out, bool *done)
{
	*done = p->tok.type == T_INT && p->tok.u == (uint64_t)INT64_MAX + 1;
	if (!*done)
		return MM_OK;
	return token_literal(p, vint(INT64_MIN), out);
}

static int unary(struct parser *p, struct node **out)
{
	int op = p->tok.type;
	size_t pos = p->tok.start;
	bool done = false;
	struct node *n;
	int rc;

	if (op != '!' && op != '-') {
		rc = primary(p, out);
		return rc == MM_OK ? member_rest(p, out) : rc;
	}
	rc = advance(p);
	if (rc == MM_OK && op == '-')
		rc = min_int(p, out, &done);
	if (rc != MM_OK || done)
		return rc == MM_OK ? member_rest(p, out) : rc;
	if (++p->depth > POLICY_NESTING_MAX)
		return fail(p, pos, "expression nested too deeply");
	rc = unary(p, out);
	p->depth--;
	if (rc != MM_OK)
		return rc;
	n = node_new(p, op == '!' ? N_NOT : N_NEG, pos, 1);
	if (n == NULL)
		return node_fail(p, pos);
	rc = set_arg(p, n, 0, *out);
	*out = n;
	return rc;
}

/* ---- binary levels
 * ---------------------------------------------------------------- */

static int binop_of(const struct parser *p, int level)
{
	int t = p->tok.type;

	switch (level) {
	case 0:
		return t == '*'	  ? B_MUL
		       : t == '/' ? B_DIV
		       : t == '%' ? B_MOD
				  : -1;
	case 1:
		return t == '+' ? B_ADD : t == '-' ? B_SUB : -1;
	}
	if (t == T_EQ)
		return B_EQ;
	if (t == T_NE)
		return B_NE;
	if (t == '<')
		return B_LT;
	if (t == T_LE)
		return B_LE;
	if (t == '>')
		return B_GT;
	if (t == T_GE)
		return B_GE;
	return tok_is(p, "in") ? B_IN : -1;
}

/* Levels 0 (* / %), 1 (+ -), 2 (relations), 3 (&&), 4 (||). */
static int level(struct parser *p, int lv, struct node **out)
{
	int rc = lv == 0 ? unary(p, out) : level(p, lv - 1, out);

	while (rc == MM_OK) {
		int op = lv <= 2 ? binop_of(p, lv)
				 : (p->tok.type == (lv == 3 ? T_AND : T_OR)
					    ? 0
					    : -1);
		size_t pos = p->tok.start;
		struct node *rhs = NULL;

		if (op < 0)
			break;
		rc = advance(p);
		if (rc == MM_OK)
			rc = lv == 0 ? unary(p, &rhs) : level(p, lv - 1, &rhs);
		if (rc == MM_OK)
			rc = binary(p,
				    lv == 3   ? N_AND
				    : lv == 4 ? N_OR
					      : N_BINARY,
				    (uint8_t)op, pos, out, rhs);
	}
	return rc;
}

static int expr(struct parser *p, struct node **out)
{
	struct node *c = NULL, *a = NULL, *b = NULL, *n;
	size_t pos = p->tok.start;
	int rc;

	if (++p->depth > POLICY_NESTING_MAX)
		return policy_parse_fail(p->lx.diag, MM_ERR_LIMIT, p->src, p->n,
					 pos,
					 "expression nested too deeply "
					 "(POLICY_NESTING_MAX)");
	rc = level(p, 4, &c);
	if (rc == MM_OK && p->tok.type == '?') {
		pos = p->tok.start;
		rc = advance(p);
		if (rc == MM_OK)
			rc = level(p, 4, &a);
		if (rc == MM_OK)
			rc = expect(p, ':', "expected ':'");
		if (rc == MM_OK)
			rc = expr(p, &b);
		n = rc == MM_OK ? node_new(p, N_COND, pos, 3) : NULL;
		if (rc == MM_OK && n == NULL)
			rc = node_fail(p, pos);
		if (rc == MM_OK)
			rc = set_arg(p, n, 0, c);
		if (rc == MM_OK)
			rc = set_arg(p, n, 1, a);
		if (rc == MM_OK)
			rc = set_arg(p, n, 2, b);
		c = n;
	}
	p->depth--;
	*out = c;
	return rc;
}

enum mm_err policy_parse_expr(struct arena *a, const char *src, size_t start,
			      size_t n, struct parser_out *out,
			      struct mm_diag *diag)
{
	struct parser p;
	int rc;

	memset(&p, 0, sizeof(p));
	memset(out, 0, sizeof(*out));
	if (n > POLICY_SOURCE_BYTES_MAX)
		return mm_fail(diag, MM_ERR_LIMIT, POLICY_SOURCE_BYTES_MAX,
			       "source longer than POLICY_SOURCE_BYTES_MAX");
	p.src = src;
	p.n = n;
	p.arena = a;
	p.lx.src = src;
	p.lx.n = n;
	p.lx.pos = start;
	p.lx.diag = diag;
	p.lx.buf = policy_arena_alloc(a, n + 1);
	if (p.lx.buf == NULL)
		return mm_fail(diag, MM_ERR_NOMEM, 0, "out of memory");
	rc = advance(&p);
	if (rc == MM_OK)
		rc = expr(&p, &out->root);
	if (rc == MM_OK && p.tok.type != T_EOF)
		rc = fail(&p, p.tok.start,
			  "unexpected text after the expression");
	out->nodes = p.nodes;
	out->locals = p.slots;
	return rc;
}
